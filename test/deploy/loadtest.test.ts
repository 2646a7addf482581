// loadtest/run.ts: the k6 scenario definitions run by the Node engine against a real node,
// with k6-style thresholds that pass and fail as k6's would.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { arrivalsBy, evaluate, Metrics, parseDuration, parseThresholds, vusAt } from '../../loadtest/engine.ts';
// The same plain-JS module k6 imports (typed for k6 by loadtest/tsconfig.json).
// @ts-expect-error no declaration file: it is JS checked against k6's types, not Node's
import { optionsFor } from '../../loadtest/scenarios.js';

const RUN = fileURLToPath(new URL('../../loadtest/run.ts', import.meta.url));
/** An empty PATH directory: the runner finds no k6 even where k6 is installed. */
const NO_K6 = mkdtempSync(join(tmpdir(), 'gh-no-k6-'));
test.after.always(() => rmSync(NO_K6, { recursive: true, force: true }));

function loadtest(...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [RUN, ...args], { timeout: 30_000, env: { ...process.env, PATH: NO_K6 } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: stdout + stderr });
    });
  });
}

let up: TestUpstream;
let gw: TestGateway;
test.before(async () => {
  up = await startUpstream();
  gw = await startGateway({
    upstreams: { demo: { targets: [{ url: up.url }] } },
    routes: { hello: { match: { paths: ['/hello'] }, upstream: 'demo' } },
  } as never);
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });

test('smoke against a real node: the Node engine says so, every threshold passes, exit 0', async (t) => {
  // P99_MS: the latency limit is loosened so a busy test machine cannot fail this; the
  // mechanics (rate, thresholds, exit code) are what is tested here.
  const r = await loadtest('--scenario', 'smoke', '--target', gw.url, '-e', 'DURATION=3s', '-e', 'RATE=20', '-e', 'P99_MS=60000');
  t.is(r.code, 0, r.out);
  t.regex(r.out, /^engine: node \(k6 is not on PATH\)/m);
  t.regex(r.out, /✓ 'rate==0' rate=0\.00%/);
  t.regex(r.out, /✓ 'p\(99\)<60000' p\(99\)=/);
  t.regex(r.out, /✓ status is 2xx/);
  t.regex(r.out, /thresholds: all 3 passed/);
  // 20/s for 3 s, on a clock (open model): 60 iterations started or dropped (all VUs busy).
  const n = Number(/http_reqs\.+: (\d+)/.exec(r.out)?.[1]);
  const dropped = Number(/dropped_iterations\.+: (\d+)/.exec(r.out)?.[1]);
  t.true(n + dropped >= 59 && n + dropped <= 60, `http_reqs ${n} + dropped ${dropped}`);
  t.true(up.received.filter((x) => x.url === '/hello').length >= n);
});

test('a crossed threshold fails the run with exit 99, as k6 does', async (t) => {
  const r = await loadtest('--scenario', 'smoke', '--target', `${gw.url}/nowhere`, '-e', 'DURATION=1s', '-e', 'P99_MS=60000', '--engine', 'node');
  t.is(r.code, 99, r.out);
  t.regex(r.out, /engine: node \(k6 is not used: --engine node\)/);
  t.regex(r.out, /✗ 'rate==0' rate=100\.00%/);
  t.regex(r.out, /✗ status is 2xx/);
  t.regex(r.out, /thresholds on metrics 'http_req_failed', 'checks' have been crossed/);
});

test('bad arguments: a clear message and exit 2', async (t) => {
  const [a, b, c] = await Promise.all([loadtest('--scenario', 'nope'), loadtest('--scenario', 'load', '-e', 'RATE=lots'), loadtest('--engine', 'k6')]);
  t.is(a.code, 2);
  t.regex(a.out, /unknown scenario "nope"; one of: smoke, load, spike, soak/);
  t.is(b.code, 2);
  t.regex(b.out, /RATE=lots: must be a positive number/);
  t.is(c.code, 2);
  t.regex(c.out, /k6 is not on PATH/);
});

test('the scenarios are what the issue asks: arrival rates ramp, thresholds on error rate and p99', (t) => {
  const env = { RATE: '100', RAMP: '10s', HOLD: '20s' };
  const load = optionsFor('load', env).scenarios.load;
  t.is(load.executor, 'ramping-arrival-rate');
  // 10 -> 100/s over 10 s (550), 100/s for 20 s (2000), 100 -> 0 over 15 s (750)
  t.is(Math.round(arrivalsBy(load, 10_000)), 550);
  t.is(Math.round(arrivalsBy(load, 30_000)), 2550);
  t.is(Math.round(arrivalsBy(load, 45_000)), 3300);
  t.is(Math.round(arrivalsBy(load, 99_000)), 3300);
  for (const name of ['smoke', 'load', 'spike', 'soak']) {
    const o = optionsFor(name, {});
    t.truthy(o.thresholds.http_req_failed, name);
    t.true(o.thresholds.http_req_duration.some((x: string) => x.startsWith('p(99)<')), name);
  }
  t.is(optionsFor('soak', {}).scenarios.soak.duration, '10m');
  t.is(optionsFor('spike', { RATE: '10' }).scenarios.spike.stages[2].target, 50);
  t.is(vusAt({ executor: 'ramping-vus', startVUs: 0, stages: [{ duration: '10s', target: 10 }] }, 5000), 5);
});

test('thresholds: k6 syntax parsed, evaluated, and wrong ones refused before a run', (t) => {
  t.is(parseDuration('1m30s', 0), 90_000);
  t.is(parseDuration('250ms', 0), 250);
  t.throws(() => parseDuration('10 seconds', 0), { message: /not a duration/ });
  const m = new Metrics();
  const s = m.of('x');
  s.reqs = 4; s.failed = 1; s.durations = [1, 2, 3, 100]; s.iterations = 4;
  const r = evaluate(m, parseThresholds({ http_req_failed: ['rate<0.3'], http_req_duration: ['p(99)<50', 'med<=2'], 'http_reqs{scenario:x}': ['count==4'], 'http_reqs{scenario:y}': ['count==0'] }));
  t.deepEqual(r.map((x) => [x.source, x.ok, x.actual]), [['rate<0.3', true, 0.25], ['p(99)<50', false, 100], ['med<=2', true, 2], ['count==4', true, 4], ['count==0', true, 0]]);
  t.throws(() => parseThresholds({ http_req_duration: ['p99 < 5'] }), { message: /not "aggregation operator number"/ });
  t.throws(() => evaluate(m, parseThresholds({ http_req_duration: ['rate<1'] })), { message: /does not apply to a trend metric/ });
  t.throws(() => evaluate(m, parseThresholds({ grpc_req_duration: ['p(95)<1'] })), { message: /no such metric/ });
});
