/**
 * `npm run bench:scale:edits`: one route edit of the scale config, step by step, in one process
 * (no HTTP, no file watch), so each step's CPU cost shows without the noise of a node under
 * polling. Per edit: the file is rewritten with one route changed, then timed:
 *   read     the file's bytes (config/file.ts FileBytes, one buffer reused)
 *   items    the item reader: unchanged items keep their objects (config/json-items.ts)
 *   validate validateConfig, reusing per-item results by identity
 *   compile  compileSnapshot with the running snapshot as `previous` (router included)
 * and the old snapshot is closed, as the gateway does. Prints p50 / p90 per step over
 * SCALE_EDITS edits (default 60) after 5 warm-up edits. Sizes as bench/scale/run.ts.
 * SCALE_EDIT=consumer: each edit adds a consumer with a new key instead (the consumer index
 * and the authenticating routes are what changes then).
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { digest, scaleConfig } from './generate.ts';
import { num, sizes } from './common.ts';
import { FileBytes } from '../../nodes/src/config/file.ts';
import { JsonItemReader } from '../../nodes/src/config/json-items.ts';
import { validateConfig } from '../../nodes/src/validation/validate.ts';
import { compileSnapshot } from '../../nodes/src/pipeline/compile.ts';
import { Metrics } from '../../nodes/src/telemetry/metrics.ts';
import { PoolRegistry } from '../../nodes/src/upstream/target.ts';
import type { GatewayConfig } from '../../nodes/src/schema/model.ts';
import type { Snapshot } from '../../nodes/src/request/route.ts';

const EDITS = num('SCALE_EDITS', 60);
const WARMUP = 5;
const dir = mkdtempSync(join(tmpdir(), 'gh-edits-'));
const file = join(dir, 'gateway.json');
const KIND = process.env.SCALE_EDIT === 'consumer' ? 'consumer' : 'route';
const dyn = scaleConfig(sizes) as { routes: Record<string, unknown>; consumers: Record<string, unknown> };
const write = (): void => { writeFileSync(`${file}.tmp`, JSON.stringify(dyn)); renameSync(`${file}.tmp`, file); };
const deps = { logger: pino({ level: 'silent' }), metrics: new Metrics(), pools: new PoolRegistry(), baseDir: dir, services: {}, carried: true };
const reader = new JsonItemReader();
const bytes = new FileBytes();

write();
let snap: Snapshot = compileSnapshot(reader.read(bytes.read(file)) as GatewayConfig, 1, deps);
const steps = { read: [] as number[], items: [] as number[], validate: [] as number[], compile: [] as number[], total: [] as number[] };
for (let i = 0; i < WARMUP + EDITS; i++) {
  if (KIND === 'consumer') dyn.consumers[`fresh${i}`] = { groups: ['all'], keys: [digest(`fresh-key-${i}`)] };
  else dyn.routes.added = { match: { paths: [`/edit/${i}`] }, upstream: `u${i % sizes.upstreams}` };
  write();
  const t0 = performance.now();
  const text = bytes.read(file);
  const t1 = performance.now();
  const doc = reader.read(text) as GatewayConfig | undefined;
  if (!doc) throw new Error('the item reader refused the file');
  const t2 = performance.now();
  const errs = validateConfig({ ...doc, node: {} }, dir);
  if (errs.length) throw new Error(JSON.stringify(errs.slice(0, 3)));
  const t3 = performance.now();
  const old = snap;
  snap = compileSnapshot(doc, i + 2, { ...deps, previous: old });
  const t4 = performance.now();
  void old.close();
  if (i < WARMUP) continue;
  steps.read.push(t1 - t0); steps.items.push(t2 - t1); steps.validate.push(t3 - t2); steps.compile.push(t4 - t3); steps.total.push(t4 - t0);
}
rmSync(dir, { recursive: true, force: true });
const q = (xs: number[], p: number): string => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!.toFixed(1);
console.log(`one ${KIND} edit, in process (${sizes.routes} routes, ${sizes.consumers} consumers, ${sizes.upstreams} upstreams; ${EDITS} edits)\n`);
console.log('| step | p50 ms | p90 ms |\n| --- | --- | --- |');
for (const [k, xs] of Object.entries(steps)) console.log(`| ${k} | ${q(xs, 0.5)} | ${q(xs, 0.9)} |`);
