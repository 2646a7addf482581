// Registry discovery on real nodes: instances kept alive by `gatehouse register` become
// targets on every node, leave when killed (lease expiry) or stopped (revoke), and a config
// reload that replaces the upstream runtime keeps the discovered targets.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startCluster, get, GATEHOUSE_BIN, COMPILE_CACHE_ENV, type TestCluster } from '../helpers/cluster.ts';
import { spawnTracked, killTracked, type Tracked } from '../helpers/child.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { waitFor } from '../helpers/wait.ts';

const run = promisify(execFile);

test('gatehouse register without the required flags prints its usage and exits 2', async (t) => {
  const err = await t.throwsAsync(run(process.execPath, [GATEHOUSE_BIN, 'register', '--service', 'x'])) as Error & { code: number; stderr: string };
  t.is(err.code, 2);
  t.regex(err.stderr, /gatehouse register --etcd URL/);
});

function register(c: TestCluster, id: string, url: string, ttl = 2): Tracked {
  return spawnTracked(process.execPath, [GATEHOUSE_BIN, 'register', '--etcd', c.etcd.endpoint, '--prefix', c.prefix, '--service', 'users', '--url', url, '--id', id, '--ttl', String(ttl)], COMPILE_CACHE_ENV);
}

/** The target URLs each node has for upstream `svc`, e.g. ['a,b', 'a,b', 'a,b']. */
async function targets(c: TestCluster): Promise<string[]> {
  return Promise.all(c.nodes.map(async (n) => {
    const ups = (await n.status('/status')).body.upstreams as Record<string, Array<{ url: string }>>;
    return (ups.svc ?? []).map((x) => x.url).sort().join(',');
  }));
}

test('registered instances become targets on every node and leave with their lease', async (t) => {
  const [a, b] = [await startUpstream(), await startUpstream()] as [TestUpstream, TestUpstream];
  t.teardown(async () => { await a.close(); await b.close(); });
  const c = await startCluster({
    nodes: 3,
    seed: {
      'upstreams/svc': { discovery: { service: 'users' } },
      'routes/svc': { match: { paths: ['/svc'] }, upstream: 'svc' },
    },
  });
  t.teardown(() => c.stop());
  const both = [a.url, b.url].sort().join(',');

  const ia = register(c, 'ia', a.url);
  const ib = register(c, 'ib', b.url);
  t.teardown(async () => { await killTracked(ia); await killTracked(ib); });
  await waitFor(() => ia.output().includes('registered') && ib.output().includes('registered'), { timeout: 10_000, message: `registered (${ia.output()} ${ib.output()})` });
  await waitFor(async () => (await targets(c)).every((x) => x === both), { message: 'both instances are targets on every node' });
  for (let i = 0; i < 30; i++) t.is((await get(`${c.lb.url}/svc`)).status, 200);
  t.true(a.received.length > 0 && b.received.length > 0, 'traffic reaches both instances');

  // A reload that replaces the upstream runtime (its config changed) keeps the targets.
  await c.converged(await c.put('upstreams/svc', { discovery: { service: 'users' }, timeouts: { response: '5s' } }));
  t.deepEqual(await targets(c), [both, both, both], 'targets re-applied to the new runtime');
  for (let i = 0; i < 10; i++) t.is((await get(`${c.lb.url}/svc`)).status, 200);

  // The snapshot carries the discovered targets for a restart during an etcd outage.
  await waitFor(() => (c.nodes[0]!.snapshot()?.config.upstreams.svc.targets ?? []).length === 2, { message: 'targets in the snapshot' });

  // A crash: no revoke; the instance goes when its 2 s lease expires.
  await killTracked(ia, 'SIGKILL');
  const t0 = performance.now();
  await waitFor(async () => (await targets(c)).every((x) => x === b.url), { timeout: 8000, interval: 50, message: 'crashed instance dropped everywhere' });
  t.log(`SIGKILLed instance dropped by all nodes after ${(performance.now() - t0).toFixed(0)} ms (lease TTL 2 s)`);
  const seenA = a.received.length;
  for (let i = 0; i < 10; i++) t.is((await get(`${c.lb.url}/svc`)).status, 200);
  t.is(a.received.length, seenA, 'no more traffic to the dead instance');

  // SIGTERM: the lease is revoked, the instance leaves at once; no instance left: 502.
  const t1 = performance.now();
  await killTracked(ib, 'SIGTERM');
  t.is(ib.child.exitCode, 0);
  await waitFor(async () => (await targets(c)).every((x) => x === ''), { timeout: 3000, interval: 20, message: 'stopped instance dropped' });
  t.log(`SIGTERMed instance dropped by all nodes after ${(performance.now() - t1).toFixed(0)} ms`);
  const r = await get(`${c.nodes[0]!.url}/svc`);
  t.is(r.status, 502);
  t.is(r.body.code, 'GW_UPSTREAM_UNAVAILABLE');
});
