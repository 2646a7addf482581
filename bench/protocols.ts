/**
 * Bench rows for the protocols, each pair measured side by side in one run:
 * - HTTP/2 through the gateway (h2c, h2load multiplexed: 4 connections x 8 streams) against
 *   HTTP/1.1 through the same gateway (h2load --h1, 32 connections): same client, same
 *   concurrency, so the ratio is the protocol's.
 * - gRPC unary calls (h2load posting one gRPC frame, 4 x 8 streams) through the gateway to an
 *   @grpc/grpc-js echo, against the same echo direct.
 * - WebSocket echo messages (python3-websockets, 32 connections) through the gateway against
 *   the same python echo direct. The python client and server are slow, so this pair tends
 *   to 1.0x: it shows what the tunnel costs, not what it could carry.
 * The process group of a gRPC/WebSocket row includes its upstream, so the req/cpu-s column
 * is not meaningful for those rows; compare req/s.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { baseConfig, type GatehousePorts } from './gatehouse.ts';
import type { LoadResult, LoadRun } from './lib/load.ts';
import { hasCommand, pinned, track } from './lib/proc.ts';
import type { Scenario } from './scenarios.ts';

const BENCH = import.meta.dirname;
const ROOT = join(BENCH, '..');
const GATEHOUSE_BIN = join(ROOT, 'nodes', 'bin', 'gatehouse.js');
const seconds = (d: string): number => { const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(d); if (!m) return 5; const n = Number(m[1]); return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n; };

function exec(cmd: string, args: string[], cpu: string | undefined): Promise<string> {
  const [c, a] = pinned(cpu, cmd, args);
  return new Promise((resolve, reject) => {
    const p = spawn(c, a, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    track(p);
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    p.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    p.once('error', reject);
    p.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out.slice(-500)}`))));
  });
}

/** h2load for the measured time; latencies from its per-request log. */
export async function h2load(run: LoadRun, path: string, extra: string[]): Promise<LoadResult> {
  const log = join(run.dir, `${run.name}.h2load.log`);
  const out = await exec('h2load', ['-D', String(Math.max(1, Math.round(seconds(run.duration)))), '--log-file', log, ...extra, run.baseUrl + path], run.cpu);
  const total = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const rps = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out);
  if (!total || !codes || !rps) throw new Error(`unreadable h2load output: ${out.slice(-400)}`);
  const lat = readFileSync(log, 'utf8').trim().split('\n').map((l) => Number(l.split('\t')[2]) / 1000).filter((x) => x >= 0).sort((a, b) => a - b);
  const q = (p: number): number => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! : 0);
  return { rps: Number(rps[1]), requests: Number(total[2]), p50Ms: q(0.5), p99Ms: q(0.99), socketErrors: Number(total[5]), non2xx: Number(codes[3]) + Number(codes[4]) };
}

async function wsLoad(run: LoadRun): Promise<LoadResult> {
  const out = await exec('/usr/bin/python3', [join(BENCH, 'peers', 'ws-load.py'), run.baseUrl.replace('http:', 'ws:') + '/echo', String(run.connections), String(seconds(run.duration))], run.cpu);
  return JSON.parse(out.trim().split('\n').pop()!) as LoadResult;
}

let grpcBody: string | undefined;
/** One gRPC message frame (uncompressed, 16 bytes) for h2load to post. */
function grpcFrame(dir: string): string {
  if (grpcBody) return grpcBody;
  const msg = Buffer.from('0123456789abcdef');
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
  grpcBody = join(dir, 'grpc-frame.bin');
  writeFileSync(grpcBody, frame);
  return grpcBody;
}

export const noH2load = (): string | null => (hasCommand('h2load', '--version') ? null : 'h2load (nghttp2-client) is not installed');
const noPython = (mod: string) => (): string | null => (spawnSync('/usr/bin/python3', ['-c', `import ${mod}`], { stdio: 'ignore' }).status === 0 ? null : `/usr/bin/python3 has no ${mod}`);

function h2cGatehouse(name: string, load: Scenario['load'], extra: Partial<Scenario> = {}): Scenario {
  return {
    name,
    group: 'gatehouse',
    unavailable: noH2load,
    launch: (ctx) => {
      const file = join(ctx.dir, `${name}.yaml`);
      const cfg = baseConfig({ listen: ctx.port, status: ctx.statusPort, upstreamUrl: ctx.upstreamUrl } as GatehousePorts, { bare: { match: { paths: ['/*'] }, upstream: 'up' } });
      (cfg.node as Record<string, unknown>).http2 = { cleartext: true };
      writeFileSync(file, stringify(cfg));
      return { command: process.execPath, args: [GATEHOUSE_BIN, 'start', '--config', file], readyUrl: `http://127.0.0.1:${ctx.statusPort}/readyz`, ports: [ctx.statusPort], startTimeoutMs: 60_000 };
    },
    load,
    ...extra,
  };
}

function launcher(name: string, mode: string, gatehouse: boolean, load: Scenario['load'], unavailable: () => string | null, extra: Partial<Scenario> = {}): Scenario {
  return {
    name,
    group: gatehouse ? 'gatehouse' : 'reference',
    unavailable,
    launch: (ctx) => ({
      command: process.execPath,
      args: [join(BENCH, 'peers', 'protocol-upstream.ts'), mode, String(ctx.port), String(ctx.statusPort), ctx.dir],
      ...(gatehouse ? { readyUrl: `http://127.0.0.1:${ctx.statusPort}/readyz`, ports: [ctx.statusPort] } : {}),
      startTimeoutMs: 60_000,
    }),
    load,
    ...extra,
  };
}

const grpcLoad = { custom: (run: LoadRun) => h2load(run, '/bench.Echo/Unary', ['-c', '4', '-m', '8', '-d', grpcFrame(run.dir), '-H', 'content-type: application/grpc', '-H', 'te: trailers']) };

export const PROTOCOL_SCENARIOS: Scenario[] = [
  h2cGatehouse('gatehouse-h1-h2load', { custom: (run) => h2load(run, '/', ['--h1', '-c', String(run.connections)]) }),
  h2cGatehouse('gatehouse-h2c', { custom: (run) => h2load(run, '/', ['-c', '4', '-m', String(Math.max(1, Math.round(run.connections / 4)))]) }, {
    targets: [{ label: 'HTTP/2 req/s >= 1.0x HTTP/1.1 through the gateway (h2load both)', numerator: 'gatehouse-h2c', denominator: 'gatehouse-h1-h2load', minRatio: 1.0 }],
  }),
  launcher('grpc-direct', 'grpc-direct', false, grpcLoad, noH2load),
  launcher('gatehouse-grpc', 'gatehouse-grpc', true, grpcLoad, noH2load, {
    targets: [{ label: 'gRPC unary through the gateway >= 0.5x direct', numerator: 'gatehouse-grpc', denominator: 'grpc-direct', minRatio: 0.5 }],
  }),
  launcher('ws-direct', 'ws-direct', false, { custom: wsLoad }, noPython('websockets')),
  launcher('gatehouse-ws', 'gatehouse-ws', true, { custom: wsLoad }, noPython('websockets'), {
    targets: [{ label: 'WebSocket echo msg/s through the gateway >= 0.5x direct', numerator: 'gatehouse-ws', denominator: 'ws-direct', minRatio: 0.5 }],
  }),
];
