// Debian's HAProxy with infra/haproxy/haproxy.cfg in front of three real gateway nodes in
// cluster mode (real etcd and nats-server): under a steady load through HAProxy, one node is
// drained with SIGTERM and another is SIGKILLed, and no client GET fails; POSTs that were on
// the killed node fail to their clients instead of being sent again.
import { execFile } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { startCluster } from '../helpers/cluster.ts';
import { startLoad } from '../helpers/balancer.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { waitFor } from '../helpers/wait.ts';
import { checkConfig, haproxyEnv, startHaproxy } from './haproxy.ts';

test('haproxy -c accepts infra/haproxy/haproxy.cfg, and refuses it broken', async (t) => {
  const env = haproxyEnv('127.0.0.1:18000', '127.0.0.1:18404', [1, 2, 3].map((i) => ({ addr: `127.0.0.1:1808${i}`, statusPort: 19080 + i })));
  const ok = await checkConfig(env);
  t.is(ok.code, 0, ok.output);
  t.regex(ok.output, /Configuration file is valid/);
  // The defaults (no variables set) are the compose names: valid too, the nodes wait for DNS.
  const compose = await checkConfig({});
  t.is(compose.code, 0, compose.output);
  // The check really checks: a bad value is an error.
  const bad = await checkConfig({ ...env, GATEHOUSE_LB_LOG_LEVEL: 'loud' });
  t.not(bad.code, 0);
  t.regex(bad.output, /log level/);
});

const RUN = fileURLToPath(new URL('../../loadtest/run.ts', import.meta.url));
function loadtest(...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [RUN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: stdout + stderr });
    });
  });
}

/** One request on its own connection; resolves to its status (-1: the connection failed). */
function send(url: string, method: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(url, { method, agent: false, headers: { 'content-type': 'text/plain' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(-1));
    });
    req.on('error', () => resolve(-1));
    req.end('order');
  });
}

/** GET through HAProxy from 127.0.0.2, so the client's address differs from HAProxy's (127.0.0.1). */
function getFrom(url: string, localAddress: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { localAddress, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

test('three nodes behind HAProxy: SIGTERM one, SIGKILL another, under load: zero failed GETs, no POST sent twice', async (t) => {
  const up = await startUpstream();
  t.teardown(() => up.close());
  const c = await startCluster({
    nodes: 3,
    nats: true,
    // HAProxy connects from 127.0.0.1: its X-Forwarded-For is believed from there.
    node: { trustedProxies: ['127.0.0.1/32'] },
    // The helper's in-process balancer is not used here, but startCluster waits (5 s) until it
    // sees every node up: frequent checks keep that wait short on a busy machine.
    healthInterval: 250,
    startTimeout: 40_000, // three node processes starting at once on a busy 2-core machine
    seed: {
      'upstreams/app': { targets: [{ url: up.url }], timeouts: { response: '60s' } }, // POSTs are held a while
      'routes/app': { match: { paths: ['/app'] }, upstream: 'app' },
    },
  });
  t.teardown(() => c.stop());
  const lb = await startHaproxy(c.nodes.map((n) => ({ addr: `127.0.0.1:${n.port}`, statusPort: n.statusPort })));
  t.teardown(() => lb.stop());
  await waitFor(async () => Object.values(await lb.servers()).every((s) => s.status === 'UP'), { timeout: 30_000, message: 'HAProxy sees three nodes UP' });

  // option forwardfor + trustedProxies: the upstream learns the real client (127.0.0.2), then HAProxy.
  const probe = await getFrom(`${lb.url}/app`, '127.0.0.2');
  t.is(probe.status, 200, probe.body);
  t.is(JSON.parse(probe.body).headers['x-forwarded-for'], '127.0.0.2, 127.0.0.1');

  // The cluster load-test script (loadtest/cluster.js) through HAProxy, briefly: its smoke
  // scenario's thresholds hold.
  const smoke = await loadtest('--script', 'cluster', '--scenario', 'smoke', '--target', `${lb.url}/app`, '-e', 'DURATION=2s', '-e', 'RATE=20', '-e', 'P99_MS=60000', '--engine', 'node');
  t.is(smoke.code, 0, smoke.out);
  t.regex(smoke.out, /scenario definitions of loadtest\/cluster\.js/);
  t.regex(smoke.out, /thresholds: all 3 passed/);

  // Responses take a little while, so requests are in flight when nodes go away. POSTs are
  // held by the upstream until released (step 2).
  const heldPosts: Array<{ id: string; res: http.ServerResponse }> = [];
  const postIds: string[] = [];
  up.respond = (r, res) => {
    if (r.method === 'POST') { const id = new URL(r.url, 'http://x').searchParams.get('id')!; postIds.push(id); heldPosts.push({ id, res }); return; }
    setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok'); }, 10);
  };
  const release = (): void => { for (const h of heldPosts.splice(0)) if (!h.res.destroyed) { h.res.writeHead(200); h.res.end('posted'); } };
  const load = startLoad(lb.url, { path: '/app', concurrency: 6, pauseMs: 2 });
  t.teardown(async () => { await load.stop(); });
  await waitFor(() => load.current().ok >= 300, { timeout: 40_000, message: '300 requests through HAProxy' });
  const before = await lb.servers();
  t.true(Object.values(before).every((s) => s.total > 0), `every node served: ${JSON.stringify(before)}`);

  // 1. Drain node1: /readyz turns 503 at once, its listener closes, in-flight requests finish.
  const [n1, n2] = [c.nodes[0]!, c.nodes[1]!];
  const t0 = performance.now();
  await n1.stop('SIGTERM');
  t.is(n1.proc!.child.exitCode, 0, n1.output());
  const drainedMs = performance.now() - t0;
  await waitFor(async () => (await lb.servers()).node1!.status.startsWith('DOWN'), { timeout: 30_000, message: 'HAProxy marks node1 DOWN' });
  let mark = load.current().ok;
  await waitFor(() => load.current().ok >= mark + 300, { timeout: 40_000, message: '300 more requests on two nodes' });

  // 2. Kill node2: requests in flight on it die mid-way; HAProxy retries those GETs on node3.
  // POSTs in flight on it are not retried (they may have been applied): their clients get a
  // 502, and the upstream sees every POST exactly once.
  const POSTS = 10;
  const posts = Array.from({ length: POSTS }, (_, i) => send(`${lb.url}/app?id=${i}`, 'POST'));
  await waitFor(() => postIds.length >= POSTS, { timeout: 30_000, message: `${POSTS} POSTs held at the upstream` });
  await n2.stop('SIGKILL');
  await waitFor(async () => (await lb.servers()).node2!.status.startsWith('DOWN'), { timeout: 30_000, message: 'HAProxy marks node2 DOWN' });
  // Answer the POSTs still held (on node3), and any that would arrive late, until all are done.
  const postStatus = new Array<number>(POSTS).fill(0);
  posts.forEach((p, i) => void p.then((x) => { postStatus[i] = x; }));
  await waitFor(() => { release(); return postStatus.every((x) => x !== 0); }, { timeout: 30_000, interval: 50, message: 'every POST answered' });
  const lost = postStatus.filter((x) => x === 502).length;
  t.log(`POSTs in flight at the kill: ${lost} on node2 -> 502, ${postStatus.filter((x) => x === 200).length} on node3 -> 200`);
  t.true(postStatus.every((x) => x === 200 || x === 502), postStatus.join(','));
  t.true(lost >= 1, 'at least one POST was on node2 when it died');
  t.is(postIds.length, POSTS, `the upstream saw each POST once: ${postIds.join(',')}`);
  t.is(new Set(postIds).size, POSTS);

  mark = load.current().ok;
  await waitFor(() => load.current().ok >= mark + 300, { timeout: 40_000, message: '300 more requests on the last node' });

  const r = await load.stop();
  const s = await lb.servers();
  const b = await lb.backend();
  t.log(`node1 SIGTERM -> exit ${drainedMs.toFixed(0)} ms; ${r.ok} ok, ${r.failed} failed; per node ${JSON.stringify(s)}; backend econ=${b.econ} eresp=${b.eresp} wretr=${b.wretr} wredis=${b.wredis}`);
  t.is(r.failed, 0, r.failures.join('; '));
  t.deepEqual(Object.keys(r.statuses), ['200']);
  t.is(s.node3!.status, 'UP');
});
