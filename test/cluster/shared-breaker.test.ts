// `circuitBreaker.scope: cluster` and cache purges on three real nodes with real etcd and NATS.
// Breaker: failures are seen on n1 only (its requests fail; n2 and n3 get answers), yet once
// n1 opens, the upstream hears nothing more from n2 and n3 within 250 ms; in half-open exactly
// one node probes; its verdict (open again, then closed) reaches every node. Cache: a purge
// on n1's status server empties every node's cache.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { request, Agent } from 'undici';
import { startCluster, type GatewayNode, type TestCluster } from '../helpers/cluster.ts';
import { waitFor } from '../helpers/wait.ts';

const OPEN_FOR = 2000;

interface Arrival { at: number; from: string; status: number }

/** An upstream that records who sent what when, and fails the requests of the nodes in `failing`. */
async function recordingUpstream() {
  const arrivals: Arrival[] = [];
  const failing = new Set<string>();
  let hits = 0;
  const server = http.createServer((req, res) => {
    const from = String(req.headers['x-from'] ?? '');
    req.resume();
    req.on('end', () => {
      const status = req.url?.startsWith('/cached') ? 200 : failing.has(from) || failing.has('*') ? 500 : 200;
      if (req.url?.startsWith('/cached')) hits++;
      arrivals.push({ at: performance.now(), from, status });
      res.writeHead(status, { 'content-type': 'text/plain', 'cache-control': req.url?.startsWith('/cached') ? 'max-age=60' : 'no-store' });
      res.end(`hit ${hits}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, arrivals, failing, hits: () => hits, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

const agent = new Agent({ keepAliveTimeout: 2000, connections: 16 });
async function call(n: GatewayNode, path: string, from: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const r = await request(n.url + path, { dispatcher: agent, headers: { 'x-from': from }, headersTimeout: 5000 });
  return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
}

/** One client per node sending `path` back to back (5 ms apart) until stopped; counts statuses. */
function traffic(nodes: GatewayNode[], path: string) {
  let running = true;
  const statuses: Record<string, Record<number, number>> = {};
  const loops = nodes.map(async (n) => {
    const s = (statuses[n.name] = {} as Record<number, number>);
    while (running) {
      try { const r = await call(n, path, n.name); s[r.status] = (s[r.status] ?? 0) + 1; } catch { s[0] = (s[0] ?? 0) + 1; }
      await new Promise((r) => setTimeout(r, 5));
    }
  });
  return { statuses, stop: async () => { running = false; await Promise.all(loops); } };
}

let c: TestCluster;
let up: Awaited<ReturnType<typeof recordingUpstream>>;

test.before(async () => {
  up = await recordingUpstream();
  c = await startCluster({
    nodes: 3, nats: true,
    seed: {
      'upstreams/flaky': { targets: [{ url: up.url }], circuitBreaker: { failures: 5, openFor: `${OPEN_FOR}ms`, scope: 'cluster' } },
      'routes/flaky': { match: { paths: ['/flaky'] }, upstream: 'flaky' },
      'upstreams/plain': { targets: [{ url: up.url }] },
      'routes/cached': { match: { paths: ['/cached', '/cached/*'] }, upstream: 'plain', policies: { cache: { ttl: '60s' } } },
    },
  });
  await waitFor(async () => {
    for (const n of c.nodes) { const s = (await n.status('/cluster')).body.nats; if (!s?.connected || s.peers.length !== 2) return false; }
    return true;
  }, { timeout: 10_000, interval: 50, message: 'every node hears the two others on NATS' });
});

test.after.always(async () => {
  await c?.stop();
  await up?.close();
  await agent.close();
});

test.serial('a breaker opened by one node stops every node within 250 ms; one node probes; close propagates', async (t) => {
  const [n1, n2, n3] = c.nodes as [GatewayNode, GatewayNode, GatewayNode];
  up.failing.add('n1');
  const others = traffic([n2, n3], '/flaky');
  t.teardown(() => others.stop());
  await waitFor(() => up.arrivals.filter((a) => a.from === 'n3').length > 20, { message: 'n2 and n3 reach the upstream' });

  // n1 alone sees failures: send until its breaker answers 503 (5 failures open it).
  let opened = false;
  for (let i = 0; i < 20 && !opened; i++) opened = (await call(n1, '/flaky', 'n1')).status === 503;
  t.true(opened, 'n1 opened its breaker');
  const fails = up.arrivals.filter((a) => a.from === 'n1' && a.status === 500);
  t.is(fails.length, 5);
  const tOpen = fails.at(-1)!.at; // the 5th failure: n1 opens when it reads this answer
  await waitFor(() => (others.statuses.n2?.[503] ?? 0) > 0 && (others.statuses.n3?.[503] ?? 0) > 0, { timeout: 2000, message: 'n2 and n3 answer 503 GW_CIRCUIT_OPEN' });
  // Keep the others sending through most of the open period.
  await new Promise((r) => setTimeout(r, 1200));
  const lastFrom = (name: string) => Math.max(...up.arrivals.filter((a) => a.from === name && a.at < tOpen + OPEN_FOR - 100).map((a) => a.at));
  const p2 = lastFrom('n2') - tOpen;
  const p3 = lastFrom('n3') - tOpen;
  t.log(`open on n1 -> last request from n2 ${p2.toFixed(1)} ms, from n3 ${p3.toFixed(1)} ms after n1's 5th failure (bound 250 ms)`);
  t.true(p2 < 250 && p3 < 250, `n2 +${p2.toFixed(0)} ms, n3 +${p3.toFixed(0)} ms`);

  // Half-open after openFor: n1 (which opened it) probes; n1's requests still fail, so it opens again.
  const probing = traffic([n1], '/flaky');
  t.teardown(() => probing.stop());
  await waitFor(() => up.arrivals.some((a) => a.at > tOpen + 250 && a.from === 'n1'), { timeout: OPEN_FOR + 2000, interval: 10, message: 'a probe' });
  const probe1 = up.arrivals.find((a) => a.at > tOpen + 250)!;
  // Then the upstream recovers for everyone: the next half-open's probe closes the breaker.
  up.failing.clear();
  await waitFor(() => up.arrivals.some((a) => a.at > probe1.at + 250 && a.status === 200), { timeout: OPEN_FOR + 2000, interval: 10, message: 'a second probe' });
  const probe2 = up.arrivals.find((a) => a.at > probe1.at + 250)!;
  await waitFor(() => up.arrivals.some((a) => a.at > probe2.at && a.from === 'n2') && up.arrivals.some((a) => a.at > probe2.at && a.from === 'n3'), { timeout: 2000, interval: 10, message: 'n2 and n3 reach the upstream again' });
  const firstAfter = (name: string) => up.arrivals.find((a) => a.at > probe2.at && a.from === name)!.at - probe2.at;
  const during = up.arrivals.filter((a) => a.at > tOpen + 250 && a.at <= probe2.at);
  t.log(`half-open probes: ${during.map((a) => `${a.from} +${(a.at - tOpen).toFixed(0)} ms (${a.status})`).join(', ')}; closed -> n2 back after ${firstAfter('n2').toFixed(1)} ms, n3 after ${firstAfter('n3').toFixed(1)} ms`);
  t.deepEqual(during.map((a) => a.from), ['n1', 'n1'], 'only n1 probed, one probe per half-open period');
  t.deepEqual(during.map((a) => a.status), [500, 200]);
  t.true(probe1.at - tOpen >= OPEN_FOR - 50 && probe2.at - probe1.at >= OPEN_FOR - 50, 'each probe after a whole open period');
  t.true(firstAfter('n2') < 250 && firstAfter('n3') < 250, 'closing propagates within 250 ms');
  await others.stop();
  await probing.stop();
  const states = await Promise.all(c.nodes.map(async (n) => (await n.status('/upstreams')).body.upstreams.flaky.targets[0].breaker));
  t.deepEqual(states, ['closed', 'closed', 'closed']);
});

test.serial('a cache purge on one node\'s status server purges every node\'s cache', async (t) => {
  const path = '/cached/item?x=1';
  for (const n of c.nodes) t.is((await call(n, path, n.name)).headers['x-cache'], 'MISS');
  for (const n of c.nodes) t.is((await call(n, path, n.name)).headers['x-cache'], 'HIT', `${n.name} serves it from its cache`);
  const before = up.hits();
  const t0 = performance.now();
  const r = await request(`${c.nodes[0]!.statusUrl}/cache/purge?prefix=/cached`, { method: 'POST', dispatcher: agent });
  t.is(r.statusCode, 200);
  t.deepEqual(await r.body.json(), { purged: 1 });
  // A HIT does not refill, so asking until it misses measures when the purge landed.
  const landed: number[] = [];
  for (const n of c.nodes.slice(1)) {
    await waitFor(async () => (await call(n, path, n.name)).headers['x-cache'] === 'MISS', { timeout: 2000, interval: 5, message: `${n.name} purged` });
    landed.push(performance.now() - t0);
  }
  t.log(`purge on n1 -> seen as a miss on n2 after ${landed[0]!.toFixed(1)} ms, n3 after ${landed[1]!.toFixed(1)} ms`);
  t.is((await call(c.nodes[0]!, path, 'n1')).headers['x-cache'], 'MISS');
  t.is(up.hits() - before, 3, 'each node went to the upstream once again');
});

test.serial('the node that opened a breaker dies (SIGKILL): exactly one of the others takes over the probes', async (t) => {
  const [n1, n2, n3] = c.nodes as [GatewayNode, GatewayNode, GatewayNode];
  up.failing.add('n1');
  let opened = false;
  for (let i = 0; i < 20 && !opened; i++) opened = (await call(n1, '/flaky', 'n1')).status === 503;
  t.true(opened);
  const tOpen = up.arrivals.filter((a) => a.from === 'n1').at(-1)!.at;
  await n1.stop('SIGKILL');
  const others = traffic([n2, n3], '/flaky');
  t.teardown(() => others.stop());
  await waitFor(() => up.arrivals.some((a) => a.at > tOpen + 250), { timeout: OPEN_FOR + 3000, interval: 10, message: 'a probe from a surviving node' });
  const probe = up.arrivals.find((a) => a.at > tOpen + 250)!;
  t.true(probe.from === 'n2' || probe.from === 'n3');
  // The probe succeeded: closed on both; before that only the one probe arrived.
  await waitFor(() => up.arrivals.some((a) => a.at > probe.at && a.from !== probe.from), { timeout: 2000, interval: 10, message: 'the other survivor sends again' });
  const after = up.arrivals.filter((a) => a.at > tOpen + 250 && a.at <= probe.at);
  t.log(`owner n1 killed during the open period: ${probe.from} probed at +${(probe.at - tOpen).toFixed(0)} ms (openFor ${OPEN_FOR} ms); arrivals in half-open before the verdict: ${after.length}`);
  t.is(after.length, 1);
  await others.stop();
});
