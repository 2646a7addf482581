// `gatehouse start --workers 2` as a real child process: the node keeps ONE limit, not one
// per worker, because workers exchange their use through the primary every 50 ms
// (nodes/src/cluster/counters/workers/). Requests go on fresh connections so the kernel
// (SO_REUSEPORT) spreads them over both workers.
import test from 'ava';
import { fresh, recordingUpstream, connectionsFor, startWorkersNode, untilWorkersServe } from '../helpers/workers.ts';

test('--workers 2: the node admits its limit once, not once per worker', async (t) => {
  // Upstream that records which gateway connection (so which worker) each request came on.
  const { port: upPort, seen } = await recordingUpstream(t);
  const node = await startWorkersNode(t, 2, `
upstreams: { a: { targets: [{ url: http://127.0.0.1:${upPort} }] } }
routes:
  warm: { match: { paths: [/warm] }, upstream: a }
  limited: { match: { paths: [/limited] }, upstream: a, policies: { rate-limit: { limit: 20, window: 1m, by: route } } }
`);
  const { port } = node;
  // Both workers up and serving: the upstream sees two gateway connections.
  const tStart = performance.now();
  await untilWorkersServe(node, seen, '/warm');

  t.log(`ready after ${Math.round(performance.now() - tStart)} ms`);
  // 60 requests at 50 per second (2.5x the whole minute's quota in 1.2 s; refill 1 per 3 s).
  const statuses: number[] = [];
  for (let i = 0; i < 60; i++) {
    statuses.push((await fresh(port, '/limited')).status);
    await new Promise((r) => setTimeout(r, 20));
  }
  const admitted = statuses.filter((s) => s === 200).length;
  const served = connectionsFor(seen, '/limited');
  t.log(`admitted ${admitted} of 60; served by ${served} gateway connections`);
  t.is(seen.filter((s) => s.path === '/limited').length, admitted, 'every admitted request reached the upstream, no other');
  t.true(served >= 2, 'both workers admitted some');
  // One limiter admits 20 (+1 if a refill lands). Each worker can miss what the other admitted
  // in the last batch period (~50 ms ≈ 2 requests at this pace): the documented bound.
  t.true(admitted >= 20, `admitted ${admitted}`);
  t.true(admitted <= 24, `admitted ${admitted}: more than one limit's worth (per-worker limits would admit 40)`);
  t.is(statuses.filter((s) => s === 429).length, 60 - admitted);
});
