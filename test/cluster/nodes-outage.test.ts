// etcd taken away under load: the nodes keep serving, a node restarted during the outage
// serves its snapshot, and once etcd is back changes reach every node again.
import test from 'ava';
import { startCluster, get } from '../helpers/cluster.ts';
import { startLoad } from '../helpers/balancer.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { registerInstance } from '../../nodes/src/discovery/registry.ts';
import { waitFor } from '../helpers/wait.ts';

test('etcd killed under load: zero failed requests; restart during the outage serves the snapshot; catch-up after', async (t) => {
  const up = await startUpstream();
  t.teardown(() => up.close());
  const c = await startCluster({
    nodes: 3,
    seed: {
      'upstreams/app': { targets: [{ url: up.url }] },
      'routes/app': { match: { paths: ['/app'] }, upstream: 'app' },
      'upstreams/svc': { discovery: { service: 'users' } },
      'routes/svc': { match: { paths: ['/svc'] }, upstream: 'svc' },
    },
  });
  t.teardown(() => c.stop());
  const reg = await registerInstance({ endpoints: [c.etcd.endpoint], prefix: c.prefix, service: 'users', id: 'i1', url: up.url, ttl: 10 });
  t.teardown(() => reg.stop());
  const rev = await c.etcdRevision();
  await c.converged(1);
  // Every node has saved what it serves, with the discovered instance, before etcd goes.
  await waitFor(async () => {
    for (const n of c.nodes) if (n.snapshot()?.revision !== await n.revision() || n.snapshot()?.config.upstreams.svc.targets?.[0]?.url !== up.url) return false;
    return true;
  }, { message: 'snapshots written' });
  t.truthy(c.nodes[0]!.snapshot()!.config.routes.app);

  const load = startLoad(c.lb.url, { path: '/app', concurrency: 4, pauseMs: 5 });
  t.teardown(async () => { await load.stop(); });
  await waitFor(() => load.current().ok > 100, { message: 'traffic flowing' });

  await c.etcd.kill('SIGKILL');
  const tDown = performance.now();
  await waitFor(() => load.current().ok > 400 && performance.now() - tDown > 1000, { timeout: 10_000, message: 'traffic while etcd is down' });
  t.is(load.current().failed, 0, `failures with etcd down: ${load.current().failures.join('; ')}`);

  // Restart one node during the outage (graceful stop under load, then a cold start).
  const n2 = c.nodes[1]!;
  const served = await n2.revision();
  const tStop = performance.now();
  await n2.stop('SIGTERM');
  t.is(n2.proc!.child.exitCode, 0);
  t.log(`SIGTERM with etcd down: exited in ${(performance.now() - tStop).toFixed(0)} ms (the lease revoke fails or is given up after 1.5 s)`);
  const t0 = performance.now();
  await n2.start();
  t.log(`node restarted with etcd down: ready from its snapshot ${(performance.now() - t0).toFixed(0)} ms after spawn (startTimeout 1 s)`);
  const cl = (await n2.status('/cluster')).body;
  t.is(cl.configFrom, 'snapshot');
  t.is(await n2.revision(), served, 'serves the revision it had');
  t.is((await get(`${n2.url}/app`)).status, 200);
  t.is((await get(`${n2.url}/svc`)).status, 200, 'the registry instance saved in the snapshot is served');
  await waitFor(() => c.lb.up().n2, { message: 'balancer sends to n2 again' });
  const before = c.lb.stats().served.n2!;
  await waitFor(() => c.lb.stats().served.n2! > before + 20, { message: 'n2 takes traffic from its snapshot' });

  await c.etcd.restart();
  const tBack = performance.now();
  await c.put('routes/after', { match: { paths: ['/after'] }, upstream: 'app' });
  const times = await Promise.all(c.nodes.map(async (n) => {
    await waitFor(async () => (await get(`${n.url}/after`)).status === 200, { timeout: 10_000, interval: 20, message: `${n.name} serves the change made after etcd returned` });
    return performance.now() - tBack;
  }));
  t.log(`etcd back -> change served by n1 ${times[0]!.toFixed(0)} ms, n2 ${times[1]!.toFixed(0)} ms, n3 ${times[2]!.toFixed(0)} ms`);
  await waitFor(async () => (await n2.status('/cluster')).body.configFrom === 'etcd', { message: 'n2 back on etcd' });
  t.is((await get(`${n2.url}/svc`)).status, 200, 'discovered target kept across the switch from snapshot to etcd');
  t.true((await n2.revision())! > rev);
  // n2 joined the member list once etcd answered.
  await waitFor(async () => (await c.ctl('get', `${c.prefix}/nodes/n2`, '--print-value-only')).includes('"address"'), { timeout: 8000, message: 'n2 listed' });

  const r = await load.stop();
  const s = c.lb.stats();
  t.log(`requests: ${r.ok} ok, ${r.failed} failed; balancer retried ${s.retried}; served ${JSON.stringify(s.served)}`);
  t.is(r.failed, 0, r.failures.join('; '));
  t.is(s.failed, 0);
});
