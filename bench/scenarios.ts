/**
 * The bench's table of scenarios and targets. To add a scenario, append to SCENARIOS (a
 * launch command, optionally a load shape); to add a pass/fail line, append to TARGETS or
 * put `targets` on the scenario itself (gatehouse-security and gatehouse-cache-hit do).
 */
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { bareConfig, baseConfig, manyRoutesConfig, type GatehousePorts, type GatewayConfig } from './gatehouse.ts';
import type { BenchRequest, LoadSpec } from './lib/load.ts';
import { nginxProxyArgs } from './lib/nginx.ts';
import { hasCommand } from './lib/proc.ts';
import { PROTOCOL_SCENARIOS, h2load, noH2load } from './protocols.ts';

const BENCH = import.meta.dirname;
const ROOT = join(BENCH, '..');
const GATEHOUSE_BIN = join(ROOT, 'nodes', 'bin', 'gatehouse.js');

export interface ScenarioCtx {
  /** Temp dir for generated configs and logs. */
  dir: string;
  port: number;
  /** Second free port (gatehouse's status listener). */
  statusPort: number;
  upstreamUrl: string;
  upstreamPort: number;
}

export interface Launch {
  command: string;
  args: string[];
  /** Extra readiness check after the port accepts: must answer 200. */
  readyUrl?: string;
  /** Extra ports that must be free again after the scenario (beyond ctx.port). */
  ports?: number[];
  startTimeoutMs?: number;
}

/** "numerator ≥ minRatio × denominator" or "1 - numerator/denominator ≤ maxCost". */
export interface Target {
  label: string;
  numerator: string;
  denominator: string;
  minRatio?: number;
  maxCost?: number;
}

export interface Scenario {
  name: string;
  /** floor: the Node reference; peer: other Node proxies; reference: not Node (context only). */
  group: 'floor' | 'peer' | 'gatehouse' | 'reference';
  /** Why it cannot run here, or null. */
  unavailable?: () => string | null;
  launch: (ctx: ScenarioCtx) => Launch;
  load?: LoadSpec;
  targets?: Target[];
}

function peer(name: string, file: string, group: Scenario['group'] = 'peer'): Scenario {
  return {
    name,
    group,
    launch: (ctx) => ({ command: process.execPath, args: [join(BENCH, 'peers', file), String(ctx.port), ctx.upstreamUrl] }),
  };
}

/** A gatehouse scenario: writes its YAML into the temp dir and starts the real CLI. */
export function gatehouse(name: string, config: (p: GatehousePorts) => GatewayConfig, extra: Partial<Scenario> = {}): Scenario {
  return {
    name,
    group: 'gatehouse',
    unavailable: () => (existsSync(GATEHOUSE_BIN) ? null : 'nodes/bin/gatehouse.js does not exist yet'),
    launch: (ctx) => {
      const file = join(ctx.dir, `${name}.yaml`);
      writeFileSync(file, stringify(config({ listen: ctx.port, status: ctx.statusPort, upstreamUrl: ctx.upstreamUrl })));
      return {
        command: process.execPath,
        // BENCH_GATEHOUSE_FLAGS: node/V8 flags for every gatehouse row (an experiment's A/B).
        args: [...(process.env.BENCH_GATEHOUSE_FLAGS ?? '').split(' ').filter(Boolean), GATEHOUSE_BIN, 'start', '--config', file],
        readyUrl: `http://127.0.0.1:${ctx.statusPort}/readyz`,
        ports: [ctx.statusPort],
        startTimeoutMs: 60_000, // compiling a 10k-route table may take a while
      };
    },
    ...extra,
  };
}

/** One gRPC frame of users.v1.GetUserRequest { id: 1 } (field 1 varint 1: 08 01), for h2load to post. */
function getUserFrame(dir: string): string {
  const file = join(dir, 'get-user-frame.bin');
  if (!existsSync(file)) writeFileSync(file, Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]));
  return file;
}

function grpcBed(name: string, mode: 'direct' | 'transcode' | 'gateway', extra: Partial<Scenario> = {}): Scenario {
  return {
    name,
    group: mode === 'direct' ? 'peer' : 'gatehouse',
    launch: (ctx) => ({
      command: process.execPath,
      args: [join(BENCH, 'peers', 'grpc-bed.ts'), mode, String(ctx.port), String(ctx.statusPort), ctx.dir],
      readyUrl: `http://127.0.0.1:${ctx.port}/v1/users/1`,
      ports: [ctx.statusPort],
      startTimeoutMs: 30_000,
    }),
    load: { path: '/v1/users/1' },
    ...extra,
  };
}

/**
 * 100 distinct requests spread evenly over a table of `routes` routes (see
 * manyRoutesConfig): half hit /svc<i>/items/:id, half the /svc<i>/* wildcard, each with
 * its route's Host. Built by one function for every table size so only the size differs.
 */
export function spreadRequests(routes: number, distinct = 100): BenchRequest[] {
  const out: BenchRequest[] = [];
  for (let k = 0; k < distinct; k++) {
    const i = Math.floor((k * routes) / distinct);
    const path = k % 2 === 0 ? `/svc${i}/items/${1000 + k}` : `/svc${i}/list/${k}?page=${k}`;
    out.push({ path, headers: { Host: `h${i % 50}.example.com` } });
  }
  return out;
}

/** bareConfig with the given access log and tracing settings. */
function observed(p: GatehousePorts, access: Record<string, unknown>, tracing?: Record<string, unknown>): GatewayConfig {
  const c = bareConfig(p) as { node: { log: Record<string, unknown>; tracing?: unknown } };
  c.node.log = { level: 'warn', access };
  if (tracing) c.node.tracing = tracing;
  return c;
}

export const SCENARIOS: Scenario[] = [
  peer('undici-floor', 'undici-floor.ts', 'floor'),
  peer('fast-gateway', 'fast-gateway.ts'),
  peer('@fastify/http-proxy', 'fastify-http-proxy.ts'),
  peer('http-proxy-3', 'http-proxy-3.ts'),
  gatehouse('gatehouse-bare', bareConfig),
  // The escape hatch of decision 0005: the bare route with proxied requests on undici's Pool.
  gatehouse('gatehouse-bare-undici', (p) => { const c = bareConfig(p); c.node = { ...c.node!, upstreamClient: 'undici' }; return c; }),
  gatehouse('gatehouse-10-routes', (p) => manyRoutesConfig(p, 10), { load: { requests: spreadRequests(10) } }),
  gatehouse('gatehouse-10k-routes', (p) => manyRoutesConfig(p, 10_000), { load: { requests: spreadRequests(10_000) } }),
  // A limit that never refuses: the cost of counting (one key, the RateLimit headers) on every request.
  gatehouse('gatehouse-rate-limit', (p) => baseConfig(p, { limited: { match: { paths: ['/*'] }, upstream: 'up', policies: { 'rate-limit': { limit: 1_000_000_000, window: '1s', by: 'ip' } } } }), {
    targets: [{ label: 'rate-limit cost <= 10% vs bare', numerator: 'gatehouse-rate-limit', denominator: 'gatehouse-bare', maxCost: 0.1 }],
  }),
  // The issue-3 stack on one route: key-auth + acl + ip-restriction + validate (query schema).
  gatehouse('gatehouse-security', (p) => ({
    ...baseConfig(p, {
      secured: {
        match: { paths: ['/*'] }, upstream: 'up',
        policies: {
          'ip-restriction': { allow: ['127.0.0.0/8', '::1/128'] },
          'key-auth': { header: 'x-api-key' },
          acl: { allow: ['bench'] },
          validate: { query: { type: 'object', properties: { page: { type: 'integer', minimum: 1 } }, additionalProperties: false } },
        },
      },
    }),
    consumers: { bench: { groups: ['bench'], keys: [`sha256:${createHash('sha256').update('bench-key').digest('hex')}`] } },
  }), {
    load: { headers: { 'x-api-key': 'bench-key' } },
    targets: [{ label: 'security stack >= 0.8x bare', numerator: 'gatehouse-security', denominator: 'gatehouse-bare', minRatio: 0.8 }],
  }),
  // Every request after the first is a hit (nginx's 200 has no freshness info: the policy ttl applies).
  gatehouse('gatehouse-cache-hit', (p) => baseConfig(p, { cached: { match: { paths: ['/*'] }, upstream: 'up', policies: { cache: { ttl: '1h' } } } }), {
    targets: [{ label: 'cache hit >= 1.5x bare', numerator: 'gatehouse-cache-hit', denominator: 'gatehouse-bare', minRatio: 1.5 }],
  }),
  // Observability costs, each against gatehouse-log-off (bare, no access log, no tracing).
  gatehouse('gatehouse-log-off', (p) => observed(p, { enabled: false })),
  gatehouse('gatehouse-log-on', (p) => observed(p, { enabled: true, sample: 1 }), {
    targets: [{ label: 'access log (100%) cost <= 10% vs none', numerator: 'gatehouse-log-on', denominator: 'gatehouse-log-off', maxCost: 0.1 }],
  }),
  // The bench upstream answers 200 to the OTLP POSTs too: a collector that costs nothing.
  gatehouse('gatehouse-trace-1pct', (p) => observed(p, { enabled: false }, { endpoint: `${p.upstreamUrl}/v1/traces`, sampleRatio: 0.01 }), {
    targets: [{ label: 'tracing at 1% cost <= 3% vs off', numerator: 'gatehouse-trace-1pct', denominator: 'gatehouse-log-off', maxCost: 0.03 }],
  }),
  gatehouse('gatehouse-trace-100pct', (p) => observed(p, { enabled: false }, { endpoint: `${p.upstreamUrl}/v1/traces`, sampleRatio: 1 }), {
    targets: [{ label: 'tracing at 100% cost <= 15% vs off', numerator: 'gatehouse-trace-100pct', denominator: 'gatehouse-log-off', maxCost: 0.15 }],
  }),
  // Conversion: a transcoded unary call (GET /v1/users/1 → users.v1.Users/GetUser) against a
  // direct @grpc/grpc-js call from a minimal Node HTTP server; both include the gRPC service
  // (a child on the same pinned core).
  grpcBed('grpc-js-direct', 'direct'),
  grpcBed('gatehouse-grpc-transcode', 'transcode', {
    targets: [{ label: 'transcoded unary >= 0.5x direct grpc-js unary', numerator: 'gatehouse-grpc-transcode', denominator: 'grpc-js-direct', minRatio: 0.5 }],
  }),
  // Transcoded unary against the gateway's own plain gRPC pass-through (HTTP/2 upstream pool),
  // same gateway process, same service, same client (h2load over h2c, 4 connections x 8 streams):
  // the ratio is what the JSON ↔ protobuf conversion and the grpc-js call cost over forwarding frames.
  grpcBed('gatehouse-grpc-passthrough', 'gateway', { unavailable: noH2load, load: { custom: (run) => h2load(run, '/users.v1.Users/GetUser', ['-c', '4', '-m', '8', '-d', getUserFrame(run.dir), '-H', 'content-type: application/grpc', '-H', 'te: trailers']) } }),
  grpcBed('gatehouse-grpc-transcode-h2', 'gateway', {
    unavailable: noH2load,
    load: { custom: (run) => h2load(run, '/v1/users/1', ['-c', '4', '-m', '8']) },
    targets: [{ label: 'transcoded unary >= 0.5x gRPC pass-through, same gateway (h2load both)', numerator: 'gatehouse-grpc-transcode-h2', denominator: 'gatehouse-grpc-passthrough', minRatio: 0.5 }],
  }),
  {
    name: 'nginx-proxy',
    group: 'reference',
    unavailable: () => (hasCommand('nginx') ? null : 'nginx is not installed'),
    launch: (ctx) => ({ command: 'nginx', args: nginxProxyArgs(ctx.dir, ctx.port, ctx.upstreamPort) }),
  },
  ...PROTOCOL_SCENARIOS,
];

export const FLOOR = 'undici-floor';

export const TARGETS: Target[] = [
  { label: 'gatehouse-bare >= 0.9x undici-floor', numerator: 'gatehouse-bare', denominator: 'undici-floor', minRatio: 0.9 },
  { label: 'gatehouse-bare >= 2x fast-gateway', numerator: 'gatehouse-bare', denominator: 'fast-gateway', minRatio: 2 },
  { label: 'gatehouse-bare >= 2x @fastify/http-proxy', numerator: 'gatehouse-bare', denominator: '@fastify/http-proxy', minRatio: 2 },
  { label: '10k routes cost <= 10% vs 10 routes', numerator: 'gatehouse-10k-routes', denominator: 'gatehouse-10-routes', maxCost: 0.1 },
];

/** Ratio lines printed under the table (informational, no threshold). */
export const RATIOS: Array<{ label: string; numerator: string; denominator: string; cost?: boolean }> = [
  { label: 'gatehouse-bare / fast-gateway', numerator: 'gatehouse-bare', denominator: 'fast-gateway' },
  { label: 'gatehouse-bare-undici / gatehouse-bare (upstream client: undici / own)', numerator: 'gatehouse-bare-undici', denominator: 'gatehouse-bare' },
  { label: 'gatehouse-bare / @fastify/http-proxy', numerator: 'gatehouse-bare', denominator: '@fastify/http-proxy' },
  { label: '10k-routes cost vs 10-routes (1 - rps10k/rps10)', numerator: 'gatehouse-10k-routes', denominator: 'gatehouse-10-routes', cost: true },
];
