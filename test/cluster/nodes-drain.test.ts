// Behind a weighted, health-aware balancer: 70/20/10 is what the nodes get, and SIGTERM to
// the busiest node under load loses no client request.
import test from 'ava';
import { startCluster } from '../helpers/cluster.ts';
import { startLoad } from '../helpers/balancer.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { waitFor } from '../helpers/wait.ts';

test('weights 70/20/10, then SIGTERM to the 70% node under load: zero failed requests', async (t) => {
  const up = await startUpstream();
  t.teardown(() => up.close());
  // Responses take a little while, so requests are in flight when the node is told to stop.
  up.respond = (_r, res) => setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok'); }, 15);
  const c = await startCluster({
    nodes: 3,
    nats: true, // the nodes share state over it: draining must also close the NATS link cleanly
    weights: [70, 20, 10],
    seed: {
      'upstreams/app': { targets: [{ url: up.url }] },
      'routes/app': { match: { paths: ['/app'] }, upstream: 'app' },
    },
  });
  t.teardown(() => c.stop());

  const warm = startLoad(c.lb.url, { path: '/app', concurrency: 4, pauseMs: 2 });
  await waitFor(() => warm.current().ok >= 500, { timeout: 20_000, message: '500 requests' });
  const w = await warm.stop();
  t.is(w.failed, 0, w.failures.join('; '));
  const s = c.lb.stats();
  const total = s.served.n1! + s.served.n2! + s.served.n3!;
  const share = (n: string) => (100 * s.served[n]!) / total;
  t.log(`weights 70/20/10 -> served ${share('n1').toFixed(1)}% / ${share('n2').toFixed(1)}% / ${share('n3').toFixed(1)}% of ${total}`);
  t.true(Math.abs(share('n1') - 70) < 5 && Math.abs(share('n2') - 20) < 5 && Math.abs(share('n3') - 10) < 5);

  c.lb.resetStats();
  const load = startLoad(c.lb.url, { path: '/app', concurrency: 6, pauseMs: 2 });
  t.teardown(async () => { await load.stop(); });
  await waitFor(() => load.current().ok > 200, { message: 'traffic flowing' });
  const n1 = c.nodes[0]!;
  const t0 = performance.now();
  n1.proc!.child.kill('SIGTERM');
  await n1.proc!.exited();
  const drained = performance.now() - t0;
  t.is(n1.proc!.child.exitCode, 0, n1.output());
  // The lease was revoked on the way out: n1 left the member list at once, not after the TTL.
  t.is((await c.ctl('get', `${c.prefix}/nodes/n1`, '--print-value-only')).trim(), '');
  const atExit = load.current().ok;
  await waitFor(() => load.current().ok > atExit + 300, { message: 'traffic on the two remaining nodes' });
  const r = await load.stop();
  const st = c.lb.stats();
  t.log(`SIGTERM -> exit in ${drained.toFixed(0)} ms; requests ${r.ok} ok, ${r.failed} failed; balancer retried ${st.retried} (connection refused/reset before a response), served ${JSON.stringify(st.served)}`);
  t.is(r.failed, 0, r.failures.join('; '));
  t.is(st.failed, 0);
  t.false(c.lb.up().n1!);
});
