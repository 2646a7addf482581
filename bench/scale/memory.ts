/**
 * `npm run bench:scale:memory`: bytes per route, per consumer and per upstream held by a
 * compiled snapshot (config objects included), measured in one process with forced GCs:
 * heap in use after compiling a config with N more of one kind, divided by N.
 * Run with --expose-gc (the npm script does).
 */
import pino from 'pino';
import { compileSnapshot } from '../../nodes/src/pipeline/compile.ts';
import { Metrics } from '../../nodes/src/telemetry/metrics.ts';
import { PoolRegistry } from '../../nodes/src/upstream/target.ts';
import type { GatewayConfig } from '../../nodes/src/schema/model.ts';
import type { Snapshot } from '../../nodes/src/request/route.ts';
import { scaleConfig } from './generate.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function heap(): number {
  for (let i = 0; i < 3; i++) gc!();
  return process.memoryUsage().heapUsed;
}

const deps = { logger: pino({ level: 'silent' }), metrics: new Metrics(), pools: new PoolRegistry(), baseDir: process.cwd(), services: {} };
const keep: Snapshot[] = [];

/** Heap held by one snapshot of `config` (the config itself included). */
function held(config: Record<string, unknown>): number {
  const before = heap();
  keep.push(compileSnapshot(structuredClone(config) as GatewayConfig, keep.length + 1, deps));
  return heap() - before;
}

const N = Number(process.env.SCALE_MEM_N ?? 10_000);
const C = Number(process.env.SCALE_MEM_CONSUMERS ?? 100_000);
const U = Number(process.env.SCALE_MEM_UPSTREAMS ?? 1_000);
// Warm every code path (policy modules, ajv) first, so the rows measure tables, not code.
held(scaleConfig({ routes: 100, consumers: 100, upstreams: 10 }));
const rows: Array<[string, number, number]> = [];
const one = (label: string, count: number, cfg: Record<string, unknown>): void => { rows.push([label, count, held(cfg) / count]); };
one('route, no policies', N, scaleConfig({ routes: N, consumers: 0, upstreams: 1, authShare: 0, validateShare: 0 }));
one('route, the scale mix (10% key-auth + acl + rate-limit, 10% validate)', N, scaleConfig({ routes: N, consumers: 0, upstreams: 1 }));
// One key-auth route, so the consumer index is built too (it is what a consumer costs).
one('consumer (one sha256 key, two groups; index included)', C, { ...scaleConfig({ routes: 0, consumers: C, upstreams: 1 }), routes: { r: { match: { paths: ['/r'] }, upstream: 'u0', policies: { 'key-auth': {} } } } });
one('upstream (one target)', U, scaleConfig({ routes: 0, consumers: 0, upstreams: U }));
// What a key-auth route adds when consumers exist: before the shared consumer index each one copied the key map.
{
  const consumers = scaleConfig({ routes: 0, consumers: 10_000, upstreams: 1 });
  const routes: Record<string, unknown> = {};
  for (let i = 0; i < 1000; i++) routes[`k${i}`] = { match: { paths: [`/k${i}`] }, upstream: 'u0', policies: { 'key-auth': {} } };
  const base = held({ ...consumers, routes: { k0: routes.k0 } });
  rows.push(['key-auth route, 10,000 consumers configured', 1000, (held({ ...consumers, routes }) - base) / 999]);
}
console.log('| item | count | bytes each |\n| --- | --- | --- |');
for (const [label, count, bytes] of rows) console.log(`| ${label} | ${count.toLocaleString('en')} | ${Math.round(bytes).toLocaleString('en')} |`);
