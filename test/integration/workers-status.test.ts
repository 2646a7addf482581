// `gatehouse start --workers 2` as a real child process: the status port answers for the node,
// not for the worker that took the connection (nodes/src/workers/status-front.ts).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { waitFor } from '../helpers/wait.ts';
import { http as get } from '../helpers/http.ts';
import { fresh, recordingUpstream, connectionsFor, startWorkersNode, untilWorkersServe } from '../helpers/workers.ts';

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const routes = (upPort: number) => `
upstreams: { a: { targets: [{ url: http://127.0.0.1:${upPort} }] } }
routes:
  plain: { match: { paths: [/r] }, upstream: a }
  cached: { match: { paths: [/c/*] }, upstream: a, policies: { cache: {} } }
`;

test('--workers 2: /metrics, /readyz and cache purges answer for the whole node', async (t) => {
  const up = await recordingUpstream(t, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
  const node = await startWorkersNode(t, 2, routes(up.port));
  await untilWorkersServe(node, up.seen, '/r');
  const status = `http://127.0.0.1:${node.status}`;

  // Every worker's requests are counted: the node's total, not one worker's.
  for (let i = 0; i < 30; i++) t.is((await fresh(node.port, '/r')).status, 200);
  const sent = up.seen.filter((s) => s.path === '/r').length;
  const metrics = (await get(`${status}/metrics`)).body;
  t.is(sample(metrics, 'gatehouse_requests_total{route="plain",status_class="2xx"}'), sent);
  t.is(sample(metrics, 'gatehouse_request_duration_seconds_count{route="plain"}'), sent);
  t.is(sample(metrics, 'gatehouse_workers{state="scraped"}'), 2);
  t.is(metrics.split('\n').filter((l) => l === '# TYPE gatehouse_requests_total counter').length, 1, 'one family, not one per worker');

  const ready = await get(`${status}/readyz`);
  t.is(ready.status, 200);
  t.like(ready.json(), { status: 'ready', workers: 2 });
  const st = await get(`${status}/status`);
  t.is(st.status, 200);
  t.deepEqual(st.json().routes.sort(), ['cached', 'plain'], '/status is passed to a worker');

  // Each worker caches /c/x once; one purge on the status port empties both caches.
  await waitFor(async () => { await fresh(node.port, '/c/x'); return connectionsFor(up.seen, '/c/x') >= 2; }, { timeout: 10_000, interval: 5, message: 'both workers cached /c/x' });
  for (let i = 0; i < 10; i++) await fresh(node.port, '/c/x');
  t.is(up.seen.filter((s) => s.path === '/c/x').length, 2, 'after one miss each, the workers answer from their caches');
  const purge = await get(`${status}/cache/purge?prefix=/c/`, { method: 'POST' });
  t.is(purge.status, 200);
  t.deepEqual(purge.json(), { purged: 2 });
  const bad = await get(`${status}/cache/purge`, { method: 'POST' });
  t.is(bad.status, 400, 'a refused purge is passed on as it is');
});

test('--workers 2: a killed worker is restarted and counted; SIGTERM drains the node', async (t) => {
  const up = await recordingUpstream(t);
  const node = await startWorkersNode(t, 2, routes(up.port));
  await untilWorkersServe(node, up.seen, '/r');
  const { proc } = node;
  const status = `http://127.0.0.1:${node.status}`;
  const pids = execFileSync('pgrep', ['-P', String(proc.child.pid)]).toString().trim().split('\n').map(Number);
  t.is(pids.length, 2);
  const k0 = performance.now();
  process.kill(pids[0]!, 'SIGKILL');
  const after = await waitFor(async () => {
    const m = (await get(`${status}/metrics`)).body;
    return sample(m, 'gatehouse_worker_restarts_total') === 1 && sample(m, 'gatehouse_workers{state="running"}') === 2 ? m : undefined;
  }, { timeout: 30_000, interval: 50, message: `worker restarted\n${proc.output()}` });
  t.log(`restarted and scraped ${Math.round(performance.now() - k0)} ms after the kill`);
  t.is(sample(after, 'gatehouse_workers{state="scraped"}'), 2, proc.output());
  await waitFor(async () => (await get(`${status}/readyz`)).status === 200, { timeout: 10_000, message: 'ready again' });

  const t0 = performance.now();
  proc.child.kill('SIGTERM');
  await proc.exited();
  t.log(`exit ${Math.round(performance.now() - t0)} ms after SIGTERM`);
  t.is(proc.child.exitCode, 0, proc.output());
  await t.throwsAsync(get(`${status}/healthz`), undefined, 'the status port is closed');
});

test('--workers 2: SIGTERM while the workers are still starting stops the node at once', async (t) => {
  // drainTimeout 60s: were a worker to miss the stop, the supervisor would wait 70 s to kill it.
  const node = await startWorkersNode(t, 2, routes(1), 'drainTimeout: 60s');
  const { proc } = node;
  // The primary answers before any worker is ready.
  // 30 s: a loaded box can take that long to load the primary's modules; what is tested is the exit below.
  await waitFor(async () => (await get(`http://127.0.0.1:${node.status}/healthz`)).status === 200, { timeout: 30_000, interval: 5, message: proc.output() });
  const t0 = performance.now();
  proc.child.kill('SIGTERM');
  await proc.exited();
  const took = performance.now() - t0;
  t.log(`exit ${Math.round(took)} ms after SIGTERM`);
  t.is(proc.child.exitCode, 0, proc.output());
  t.true(took < 20_000, `took ${Math.round(took)} ms`);
});
