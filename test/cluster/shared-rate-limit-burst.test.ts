// `rate-limit` with `scope: cluster` on three real nodes, real etcd and real NATS: a burst on a
// fresh key spread over the three nodes within one batch period (50 ms). Each node sees only
// its own use until the batches arrive, so without leases each one admits a whole burst
// (3× the limit). With them the cluster admits at most the limit plus one unit per node
// (docs/cluster.md "Error bound"); the test asserts ≤ 1.25 × the limit.
import test from 'ava';
import { request, Agent } from 'undici';
import { startCluster, type GatewayNode } from '../helpers/cluster.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { waitFor } from '../helpers/wait.ts';

const LIMIT = 20; // per second, cluster-wide; burst = limit (the default)
const PER_NODE = 20;
const SPAN_MS = 30; // the 60 requests are sent over this span (plus timer lateness): within one batch period
const ROUNDS = 5;
const MAX_TRIES = 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('60 requests over 3 nodes within 50 ms on a fresh key, limit 20: a typical burst admits at most 25 cluster-wide, none more than 30', async (t) => {
  const up = await startUpstream();
  t.teardown(() => up.close());
  const c = await startCluster({
    nodes: 3, nats: true,
    node: { log: { level: 'warn', access: { enabled: false } } },
    seed: {
      'upstreams/app': { targets: [{ url: up.url }] },
      'routes/rl': { match: { paths: ['/rl'] }, upstream: 'app', policies: { 'rate-limit': { limit: LIMIT, window: '1s', by: 'header:x-key', scope: 'cluster' } } },
    },
  });
  t.teardown(() => c.stop());
  await waitFor(async () => {
    for (const n of c.nodes) { const s = (await n.status('/cluster')).body.nats; if (!s?.connected || s.peers.length !== 2 || s.rateLimit.degraded) return false; }
    return true;
  }, { timeout: 10_000, interval: 50, message: 'every node hears the two others on NATS' });

  // One agent per node with its connections open before the burst, so that sending is fast.
  const agents = c.nodes.map(() => new Agent({ keepAliveTimeout: 10_000, connections: PER_NODE }));
  t.teardown(() => Promise.all(agents.map((a) => a.close())));
  const send = async (n: GatewayNode, i: number, key: string): Promise<number> => {
    try {
      const r = await request(`${n.url}/rl`, { dispatcher: agents[i]!, headers: { 'x-key': key }, headersTimeout: 5000, bodyTimeout: 5000 });
      await r.body.dump();
      return r.statusCode;
    } catch { return 0; }
  };
  await Promise.all(c.nodes.flatMap((n, i) => Array.from({ length: PER_NODE }, (_, j) => send(n, i, `warm-${i}-${j}`))));

  // A burst this process could not send within one batch period (a busy machine) does not
  // test the bound: it is logged and repeated with a new key, at most MAX_TRIES bursts in all.
  const results: number[] = [];
  for (let round = 0; results.length < ROUNDS && round < MAX_TRIES; round++) {
    const key = `burst-${round}`;
    // 20 ticks over SPAN_MS, each sending one request to every node, at absolute times (a
    // late timer does not push the rest later).
    const pending: Array<Promise<{ node: number; status: number }>> = [];
    const sentAt: number[] = [];
    const t0 = performance.now();
    for (let tick = 0; tick < PER_NODE; tick++) {
      const delay = t0 + (tick * SPAN_MS) / (PER_NODE - 1) - performance.now();
      if (delay > 0) await sleep(delay);
      sentAt.push(performance.now() - t0);
      c.nodes.forEach((n, node) => pending.push(send(n, node, key).then((status) => ({ node, status }))));
    }
    const answers = await Promise.all(pending);
    const span = Math.max(...sentAt) - Math.min(...sentAt);
    const admitted = answers.filter((a) => a.status === 200);
    const perNode = c.nodes.map((_, i) => admitted.filter((a) => a.node === i).length);
    t.log(`round ${round + 1}: ${answers.length} requests sent over ${span.toFixed(1)} ms; admitted ${admitted.length} (limit ${LIMIT}); per node ${perNode.join(' / ')}`);
    t.deepEqual(answers.filter((a) => a.status !== 200 && a.status !== 429), [], 'every answer is 200 or 429');
    if (span < 50) results.push(admitted.length);
    else t.log(`round ${round + 1} took ${span.toFixed(1)} ms to send: not within one batch period, repeated`);
    await sleep(200);
  }
  const refusals = await Promise.all(c.nodes.map(async (n) => Number((await n.status('/cluster')).body.nats.rateLimit.leaseRefusals)));
  t.log(`admitted per burst: ${results.join(', ')} (bound ${1.25 * LIMIT}); lease refusals per node ${refusals.join(' / ')}`);
  t.true(refusals.every((r) => r > 0), 'every node refused beyond its lease');
  t.is(results.length, ROUNDS, `only ${results.length} of ${MAX_TRIES} bursts were sent within 50 ms`);
  // The bound assumes a batch reaches the other nodes within 10 ms (docs/cluster.md); on a
  // saturated machine one can arrive later and let a few more through once. So the typical
  // burst (the median) must meet the bound and no burst may pass 1.5x; the code before the
  // leases admitted 27-48 (median about 40).
  const sorted = [...results].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  t.true(median <= 1.25 * LIMIT, `median burst admitted ${median} of a limit of ${LIMIT} (${results.join(', ')})`);
  for (const n of results) {
    t.true(n <= 1.5 * LIMIT, `admitted ${n} of a limit of ${LIMIT}`);
    t.true(n >= 0.75 * LIMIT, `admitted only ${n}: the limit must stay reachable`);
  }
});
