// Service registry against a real etcd: instances register under leases and watchers follow.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Etcd3 } from 'etcd3';
import { registerInstance, RegistryWatcher, type Instance } from '../../nodes/src/discovery/registry.ts';
import { etcdPerFile, type EtcdServer } from '../helpers/etcd.ts';
import { captureLogger } from '../helpers/log.ts';
import { spawnTracked, killTracked } from '../helpers/child.ts';
import { waitFor } from '../helpers/wait.ts';

let etcd: EtcdServer;
let client: Etcd3;
etcdPerFile(test, (e, c) => { etcd = e; client = c; });

async function watcher(t: import('ava').ExecutionContext, prefix: string, service = 'users') {
  const lists: Instance[][] = [];
  const w = new RegistryWatcher({ client, prefix, service, logger: captureLogger('warn').logger, onChange: (l) => lists.push(l), retryMax: 300 });
  t.teardown(() => w.stop());
  await w.start();
  return { w, lists, ids: () => w.instances.map((i) => i.id).join() };
}

test('instances register, are listed with url and weight, and leave at stop()', async (t) => {
  const prefix = `/t-${randomUUID()}`;
  const a = await registerInstance({ endpoints: [etcd.endpoint], prefix, service: 'users', id: 'a', url: 'http://127.0.0.1:3001', weight: 5, metadata: { zone: 'z1' } });
  t.teardown(() => a.stop());
  const { w, lists, ids } = await watcher(t, prefix);
  t.deepEqual(lists, [[{ id: 'a', url: 'http://127.0.0.1:3001', weight: 5, metadata: { zone: 'z1' } }]], 'first load reported');

  const b = await registerInstance({ endpoints: [etcd.endpoint], prefix, service: 'users', id: 'b', url: 'http://127.0.0.1:3002' });
  t.teardown(() => b.stop());
  await waitFor(() => ids() === 'a,b', { message: 'b appears' });
  t.is(w.instances[1]!.weight, 1, 'weight defaults to 1');
  // Other services are not mixed in.
  const other = await registerInstance({ endpoints: [etcd.endpoint], prefix, service: 'orders', id: 'o', url: 'http://127.0.0.1:4000' });
  t.teardown(() => other.stop());

  await a.stop();
  await waitFor(() => ids() === 'b', { message: 'a leaves on stop()' });
  t.deepEqual(lists.map((l) => l.map((i) => i.id).join()), ['a', 'a,b', 'b'], 'one callback per change');
});

test('an instance that crashes is dropped when its lease expires', async (t) => {
  const prefix = `/t-${randomUUID()}`;
  const { ids } = await watcher(t, prefix);
  const proc = spawnTracked(process.execPath, [fileURLToPath(new URL('../helpers/instance-process.ts', import.meta.url)), etcd.endpoint, prefix, 'users', 'crashy', 'http://127.0.0.1:3009', '2']);
  t.teardown(() => killTracked(proc));
  await waitFor(() => ids() === 'crashy', { timeout: 8000, message: `instance listed (output: ${proc.output()})` });
  await killTracked(proc, 'SIGKILL');
  const t0 = performance.now();
  await waitFor(() => ids() === '', { timeout: 6000, interval: 20, message: 'instance dropped' });
  t.log(`crashed instance dropped by the watcher after ${(performance.now() - t0).toFixed(0)} ms (TTL 2 s)`);
  t.pass();
});

test('invalid registry entries are skipped, not served', async (t) => {
  const prefix = `/t-${randomUUID()}`;
  const root = `${prefix}/registry/users/`;
  await client.put(`${root}bad-json`).value('{').exec();
  await client.put(`${root}bad-url`).value(JSON.stringify({ url: 'ftp://x' })).exec();
  await client.put(`${root}ok`).value(JSON.stringify({ url: 'http://127.0.0.1:1', weight: 2 })).exec();
  const { ids } = await watcher(t, prefix);
  t.is(ids(), 'ok');
  // A put that makes a good entry bad removes it.
  await client.put(`${root}ok`).value(JSON.stringify({ url: 'http://127.0.0.1:1/path' })).exec();
  await waitFor(() => ids() === '', { message: 'entry turned bad is dropped' });
});

test('registerInstance refuses bad input and gives up cleanly when etcd is down', async (t) => {
  await t.throwsAsync(registerInstance({ endpoints: [etcd.endpoint], prefix: '/p', service: 'a/b', id: 'x', url: 'http://h:1' }), { instanceOf: TypeError });
  await t.throwsAsync(registerInstance({ endpoints: [etcd.endpoint], prefix: '/p', service: 's', id: 'x', url: 'http://h:1/path' }), { instanceOf: TypeError });
  const t0 = performance.now();
  await t.throwsAsync(registerInstance({ endpoints: ['http://127.0.0.1:1'], prefix: '/p', service: 's', id: 'x', url: 'http://h:1', timeout: 400 }), { message: /within 400 ms/ });
  t.true(performance.now() - t0 < 2000);
});
