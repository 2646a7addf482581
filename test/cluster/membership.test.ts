// Membership against a real etcd: the node key lives and dies with its lease.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Etcd3 } from 'etcd3';
import { Membership, listNodes } from '../../nodes/src/cluster/membership.ts';
import { createEtcdClient } from '../../nodes/src/cluster/etcd-client.ts';
import { etcdPerFile, startEtcd, type EtcdServer } from '../helpers/etcd.ts';
import { captureLogger } from '../helpers/log.ts';
import { spawnTracked, killTracked } from '../helpers/child.ts';
import { waitFor } from '../helpers/wait.ts';

let etcd: EtcdServer;
let client: Etcd3;
etcdPerFile(test, (e, c) => { etcd = e; client = c; });

function member(t: import('ava').ExecutionContext, o: { prefix: string; id?: string; ttl?: number; client?: Etcd3 }) {
  const m = new Membership({
    endpoints: [etcd.endpoint], client: o.client, prefix: o.prefix, id: o.id ?? 'n1', address: '127.0.0.1:8080', version: '0.1.0',
    logger: captureLogger('warn').logger, ttl: o.ttl ?? 2, retryMax: 300,
  });
  t.teardown(() => m.stop());
  return m;
}

test('the node key appears with its info, follows setRevision, and goes at stop()', async (t) => {
  const prefix = `/t-${randomUUID()}`;
  const m = member(t, { prefix });
  await m.start();
  const [n] = await listNodes(client, prefix);
  t.like(n, { id: 'n1', address: '127.0.0.1:8080', version: '0.1.0', revision: 0 });
  t.false(Number.isNaN(Date.parse(n!.startedAt)));
  const lease = await etcd.ctl('get', m.key, '-w', 'json');
  t.true((JSON.parse(lease) as { kvs: Array<{ lease?: number }> }).kvs[0]!.lease! > 0, 'the key is under a lease');

  m.setRevision(17);
  await waitFor(async () => (await listNodes(client, prefix))[0]?.revision === 17, { message: 'revision published' });
  await m.stop();
  t.deepEqual(await listNodes(client, prefix), [], 'revoked at once');
});

test('a node that crashes (SIGKILL: no revoke) disappears after the TTL', async (t) => {
  const prefix = `/t-${randomUUID()}`;
  const proc = spawnTracked(process.execPath, [fileURLToPath(new URL('../helpers/member-process.ts', import.meta.url)), etcd.endpoint, prefix, 'crashy', '2']);
  t.teardown(() => killTracked(proc));
  await waitFor(() => proc.output().includes('ready'), { timeout: 8000, message: `member process ready (output: ${proc.output()})` });
  t.is((await listNodes(client, prefix)).length, 1);
  await killTracked(proc, 'SIGKILL');
  const t0 = performance.now();
  await waitFor(async () => (await listNodes(client, prefix)).length === 0, { timeout: 6000, interval: 50, message: 'key expired' });
  t.log(`crashed node gone from the list after ${(performance.now() - t0).toFixed(0)} ms (TTL 2 s)`);
});

test('a revoked lease is replaced: the key comes back with the latest value', async (t) => {
  const prefix = `/t-${randomUUID()}`;
  const m = member(t, { prefix, ttl: 2 });
  await m.start();
  m.setRevision(5);
  await waitFor(async () => (await listNodes(client, prefix))[0]?.revision === 5, { message: 'revision published' });
  const first = m.leaseId!;
  await etcd.ctl('lease', 'revoke', BigInt(first).toString(16));
  await waitFor(() => m.grants === 2 && m.leaseId !== first, { timeout: 5000, message: 'new lease granted' });
  const nodes = await waitFor(async () => { const l = await listNodes(client, prefix); return l.length === 1 ? l : undefined; }, { message: 'key back' });
  t.is(nodes[0]!.revision, 5);
});

test('survives an etcd restart: still listed, and updates land afterwards', async (t) => {
  const own = await startEtcd();
  t.teardown(() => own.stop());
  const prefix = '/gh';
  const c = createEtcdClient([own.endpoint]);
  t.teardown(() => c.close());
  const m = new Membership({
    endpoints: [own.endpoint], prefix, id: 'n1', address: 'a:1', version: 'v', logger: captureLogger('warn').logger, ttl: 2, retryMax: 300,
  });
  t.teardown(() => m.stop());
  await m.start();
  await own.kill();
  m.setRevision(9); // while etcd is down: must land once it is back
  await own.restart();
  await waitFor(async () => (await listNodes(c, prefix))[0]?.revision === 9, { timeout: 8000, message: 'update after restart' });
  // Keepalives resumed: the key outlives its TTL after the restart (etcd refreshes leases
  // by one TTL when it starts, so only living past that proves it).
  const back = performance.now();
  await waitFor(async () => performance.now() - back > 3000 && (await listNodes(c, prefix)).length === 1, { timeout: 6000, interval: 250, message: 'still listed 3 s (> TTL) after the restart' });
  t.pass();
});

test('start() is bounded when etcd is down, and registers once it is up', async (t) => {
  const own = await startEtcd();
  t.teardown(() => own.stop());
  await own.kill();
  const m = new Membership({
    endpoints: [own.endpoint], prefix: '/gh', id: 'n1', address: 'a:1', version: 'v', logger: captureLogger('warn').logger, ttl: 2, startTimeout: 500, retryMax: 300,
  });
  t.teardown(() => m.stop());
  await t.throwsAsync(m.start(), { message: /within 500 ms; still retrying/ });
  let t0 = performance.now();
  await own.restart();
  t.log(`etcd restart took ${(performance.now() - t0).toFixed(0)} ms`);
  t0 = performance.now();
  const c = createEtcdClient([own.endpoint]);
  t.teardown(() => c.close());
  await waitFor(async () => (await listNodes(c, '/gh')).length === 1, { timeout: 8000, message: 'registered after etcd came up' });
  t.log(`registered ${(performance.now() - t0).toFixed(0)} ms after etcd answered`);
});
