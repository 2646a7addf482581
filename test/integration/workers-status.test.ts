// `gatehouse start --workers 2` as a real child process: the status port answers for the node,
// not for the worker that took the connection (nodes/src/workers/status-front.ts). Requests go
// on fresh connections so the kernel (SO_REUSEPORT) spreads them over both workers; the
// upstream tells the workers apart by the gateway connection each request came on.
import test from 'ava';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { spawnTracked, killTracked, type Tracked } from '../helpers/child.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';
import { http as get } from '../helpers/http.ts';

const BIN = new URL('../../nodes/bin/gatehouse.js', import.meta.url).pathname;

/** One request on its own connection. */
function once(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

interface Node { proc: Tracked; port: number; status: string; seen: Array<{ path: string; port: number }> }

async function startNode(t: import('ava').ExecutionContext): Promise<Node> {
  const seen: Array<{ path: string; port: number }> = [];
  const up = http.createServer((req, res) => {
    seen.push({ path: req.url!, port: req.socket.remotePort! });
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
    res.end('ok');
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  t.teardown(() => { up.closeAllConnections(); up.close(); });
  const upPort = (up.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'gh-workers-status-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [port, status] = [await freePort(), await freePort()];
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, `
node: { listen: 127.0.0.1:${port}, status: 127.0.0.1:${status}, log: { level: warn, access: { enabled: false } } }
upstreams: { a: { targets: [{ url: http://127.0.0.1:${upPort} }] } }
routes:
  plain: { match: { paths: [/r] }, upstream: a }
  cached: { match: { paths: [/c/*] }, upstream: a, policies: { cache: {} } }
`);
  const proc = spawnTracked(process.execPath, [BIN, 'start', '--config', file, '--workers', '2']);
  t.teardown(() => killTracked(proc, 'SIGTERM'));
  const node = { proc, port, status: `http://127.0.0.1:${status}`, seen };
  // Both workers serving: the upstream sees two gateway connections.
  const workersOn = (path: string) => new Set(seen.filter((s) => s.path === path).map((s) => s.port)).size;
  await waitFor(async () => { await once(port, '/r'); return workersOn('/r') >= 2; }, { timeout: 30_000, interval: 10, message: `both workers serving\n${proc.output()}` });
  return node;
}

test('--workers 2: /metrics, /readyz and cache purges answer for the whole node', async (t) => {
  const node = await startNode(t);
  const { port, status, seen } = node;

  // Every worker's requests are counted: the node's total, not one worker's.
  for (let i = 0; i < 30; i++) t.is(await once(port, '/r'), 200);
  const sent = seen.filter((s) => s.path === '/r').length;
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
  const fetchedBy = () => new Set(seen.filter((s) => s.path === '/c/x').map((s) => s.port)).size;
  await waitFor(async () => { await once(port, '/c/x'); return fetchedBy() >= 2; }, { timeout: 10_000, interval: 5, message: 'both workers cached /c/x' });
  for (let i = 0; i < 10; i++) await once(port, '/c/x');
  t.is(seen.filter((s) => s.path === '/c/x').length, 2, 'after one miss each, the workers answer from their caches');
  const purge = await get(`${status}/cache/purge?prefix=/c/`, { method: 'POST' });
  t.is(purge.status, 200);
  t.deepEqual(purge.json(), { purged: 2 });
  const bad = await get(`${status}/cache/purge`, { method: 'POST' });
  t.is(bad.status, 400, 'a refused purge is passed on as it is');
});

test('--workers 2: a killed worker is restarted and counted; SIGTERM drains the node', async (t) => {
  const node = await startNode(t);
  const { proc, status } = node;
  const pids = execFileSync('pgrep', ['-P', String(proc.child.pid)]).toString().trim().split('\n').map(Number);
  t.is(pids.length, 2);
  process.kill(pids[0]!, 'SIGKILL');
  const after = await waitFor(async () => {
    const m = (await get(`${status}/metrics`)).body;
    return sample(m, 'gatehouse_worker_restarts_total') === 1 && sample(m, 'gatehouse_workers{state="running"}') === 2 ? m : undefined;
  }, { timeout: 30_000, interval: 50, message: `worker restarted\n${proc.output()}` });
  t.is(sample(after, 'gatehouse_workers{state="scraped"}'), 2, proc.output());
  await waitFor(async () => (await get(`${status}/readyz`)).status === 200, { timeout: 10_000, message: 'ready again' });

  proc.child.kill('SIGTERM');
  await proc.exited();
  t.is(proc.child.exitCode, 0, proc.output());
  await t.throwsAsync(get(`${status}/healthz`), undefined, 'the status port is closed');
});

test('--workers 2: SIGTERM while the workers are still starting stops the node at once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-workers-early-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [port, status] = [await freePort(), await freePort()];
  const file = join(dir, 'gateway.yaml');
  // drainTimeout 60s: were a worker to miss the stop, the supervisor would wait 70 s to kill it.
  writeFileSync(file, `
node: { listen: 127.0.0.1:${port}, status: 127.0.0.1:${status}, drainTimeout: 60s, log: { level: warn, access: { enabled: false } } }
upstreams: { a: { targets: [{ url: http://127.0.0.1:1 }] } }
routes: { r: { match: { paths: [/r] }, upstream: a } }
`);
  const proc = spawnTracked(process.execPath, [BIN, 'start', '--config', file, '--workers', '2']);
  t.teardown(() => killTracked(proc, 'SIGKILL'));
  // The primary answers before any worker is ready.
  await waitFor(async () => (await get(`http://127.0.0.1:${status}/healthz`)).status === 200, { timeout: 10_000, interval: 5, message: proc.output() });
  const t0 = performance.now();
  proc.child.kill('SIGTERM');
  await proc.exited();
  const took = performance.now() - t0;
  t.log(`exit ${Math.round(took)} ms after SIGTERM`);
  t.is(proc.child.exitCode, 0, proc.output());
  t.true(took < 20_000, `took ${Math.round(took)} ms`);
});
