// EtcdSource against a real etcd: load, watch, bad keys, no lost change, compaction, coalescing.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { EtcdSource } from '../../nodes/src/config/etcd.ts';
import { createEtcdClient } from '../../nodes/src/cluster/etcd-client.ts';
import type { ConfigUpdate } from '../../nodes/src/config/source.ts';
import { etcdPerFile, type EtcdServer } from '../helpers/etcd.ts';
import { captureLogger } from '../helpers/log.ts';
import { waitFor } from '../helpers/wait.ts';
import { lineageFrom, lineageOf } from '../../nodes/src/core/lineage.ts';
import { FOLD_AT, isLayered } from '../../nodes/src/core/layered-record.ts';

const route = (path: string, upstream = 'users') => ({ match: { paths: [path] }, upstream });
const upstream = { targets: [{ url: 'http://127.0.0.1:3001' }] };

let etcd: EtcdServer;
let client: Etcd3;
etcdPerFile(test, (e, c) => { etcd = e; client = c; });

/** A started source on a fresh prefix, stopped at teardown; `updates` collects every onUpdate. */
async function source(t: import('ava').ExecutionContext, extra: Partial<ConstructorParameters<typeof EtcdSource>[0]> = {}, prefix = `/t-${randomUUID()}`) {
  const log = captureLogger('warn');
  const skipped: Array<[string, string[]]> = [];
  const updates: ConfigUpdate[] = [];
  const src = new EtcdSource({
    endpoints: [etcd.endpoint], prefix, logger: log.logger, onSkipped: (k, e) => skipped.push([k, e]), retryMax: 300, ...extra,
  });
  t.teardown(() => src.stop());
  await src.start((u) => updates.push(u));
  const last = () => updates[updates.length - 1]!;
  return { src, prefix, updates, last, skipped, records: log.records };
}

const put = (key: string, v: unknown) => client.put(key).value(typeof v === 'string' ? v : JSON.stringify(v)).exec();

test('loads every kind in one read, then applies puts and deletes from etcdctl and etcd3', async (t) => {
  const prefix = `/t-${randomUUID()}`;
  await put(`${prefix}/upstreams/users`, upstream);
  await put(`${prefix}/routes/users-api`, route('/users'));
  const res = await put(`${prefix}/consumers/alice`, { groups: ['premium'] });
  await put(`${prefix}/nodes/n1`, { address: 'x' }); // not config: ignored
  const { src, updates, last } = await source(t, {}, prefix);

  t.is(updates.length, 1, 'start() resolves with the first load applied');
  t.deepEqual(Object.keys(last().config.routes!), ['users-api']);
  t.deepEqual(last().config.upstreams!.users, upstream);
  t.deepEqual(last().config.consumers!.alice, { groups: ['premium'] });
  t.true(last().revision >= Number(res.header.revision), 'the revision of the read (other tests write too)');
  t.deepEqual(last().skipped, []);

  await etcd.ctl('put', `${prefix}/routes/orders`, JSON.stringify(route('/orders')));
  await waitFor(() => last().config.routes!.orders, { message: 'etcdctl put applied' });
  await etcd.ctl('del', `${prefix}/routes/users-api`);
  await waitFor(() => !last().config.routes!['users-api'], { message: 'etcdctl del applied' });
  const del = await client.delete().key(`${prefix}/consumers/alice`).exec();
  await waitFor(() => !last().config.consumers!.alice, { message: 'etcd3 delete applied' });
  t.is(src.revision, Number(del.header.revision));
  t.is(last().revision, src.revision);
  t.deepEqual(Object.keys(last().config.upstreams!), ['users']);
});

for (const coalesceMs of [20, 0]) {
  test(`watch propagation latency, put to onUpdate (coalesceMs ${coalesceMs})`, async (t) => {
    const { prefix, updates } = await source(t, { coalesceMs });
    const samples: number[] = [];
    for (let i = 0; i < 10; i++) {
      const n = updates.length;
      const t0 = performance.now();
      await put(`${prefix}/routes/r${i}`, route(`/r${i}`));
      await waitFor(() => updates.length > n, { interval: 1, message: `update ${i}` });
      samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    t.log(`latency ms: min ${samples[0]!.toFixed(1)} median ${samples[5]!.toFixed(1)} max ${samples[9]!.toFixed(1)}`);
    t.true(samples[5]! < 500);
  });
}

test('a bad key is skipped, logged and reported while the others apply', async (t) => {
  const prefix = `/t-${randomUUID()}`;
  await put(`${prefix}/upstreams/users`, upstream);
  await put(`${prefix}/routes/broken-json`, '{"match": ');
  await put(`${prefix}/routes/bad-schema`, { match: { paths: ['no-slash'] }, extra: 1 });
  await put(`${prefix}/routes/bad name`, route('/x'));
  const { last, skipped, records } = await source(t, {}, prefix);

  t.deepEqual(Object.keys(last().config.upstreams!), ['users']);
  t.deepEqual(last().config.routes, {});
  const byKey = Object.fromEntries(last().skipped!.map((s) => [s.key.slice(prefix.length), s.errors]));
  t.deepEqual(Object.keys(byKey).sort(), ['/routes/bad name', '/routes/bad-schema', '/routes/broken-json']);
  t.regex(byKey['/routes/broken-json']![0]!, /routes\.broken-json: invalid JSON/);
  t.true(byKey['/routes/bad-schema']!.includes('routes.bad-schema.match.paths[0]: must start with /'), byKey['/routes/bad-schema']!.join('\n'));
  t.true(byKey['/routes/bad-schema']!.some((e) => e.includes('unknown field "extra"')));
  t.regex(byKey['/routes/bad name']![0]!, /name must be/);
  t.is(skipped.length, 3);
  t.true(records.some((r) => r.key === `${prefix}/routes/bad-schema` && Array.isArray(r.errors)), 'logged with its errors');

  // A good key arriving later applies; a bad put is reported; fixing a key clears its report.
  await put(`${prefix}/routes/good`, route('/good'));
  await put(`${prefix}/consumers/eve`, { keys: ['plaintext-key'] });
  await waitFor(() => last().config.routes!.good && last().skipped!.length === 4, { message: 'good applied, bad put skipped' });
  t.is(skipped.length, 4);
  await put(`${prefix}/routes/bad-schema`, route('/fixed'));
  await client.delete().key(`${prefix}/routes/broken-json`).exec();
  await waitFor(() => last().config.routes!['bad-schema'] && last().skipped!.length === 2, { message: 'fixed key applied' });
  t.deepEqual(Object.keys(last().config.routes!).sort(), ['bad-schema', 'good']);
});

test('a valid key that turns bad is dropped, not kept at its old value', async (t) => {
  const { prefix, last } = await source(t);
  await put(`${prefix}/routes/r`, route('/r'));
  await waitFor(() => last().config.routes!.r, { message: 'route applied' });
  await put(`${prefix}/routes/r`, { match: { paths: [] } });
  await waitFor(() => !last().config.routes!.r && last().skipped!.length === 1, { message: 'route dropped' });
  t.pass();
});

test('each update says how its changed collection differs from the one before (lineage), bad puts as removals', async (t) => {
  const { prefix, last } = await source(t);
  await put(`${prefix}/upstreams/users`, upstream);
  await put(`${prefix}/routes/a`, route('/a'));
  await put(`${prefix}/routes/b`, route('/b'));
  await waitFor(() => last().config.routes!.b, { message: 'routes applied' });
  const before = last().config.routes!;
  const upstreams = last().config.upstreams;
  await put(`${prefix}/routes/c`, route('/c'));
  await client.delete().key(`${prefix}/routes/a`).exec();
  await waitFor(() => last().config.routes!.c && !last().config.routes!.a, { message: 'put and delete applied' });
  const after = last().config.routes!;
  t.truthy(lineageOf(after), 'the new routes record has a lineage');
  // Maybe over two updates (the put and the delete can land apart): folded back to `before`.
  const l = lineageFrom(after, before)!;
  t.deepEqual(l.changed, ['c']);
  t.deepEqual(l.removed, ['a']);
  t.is(last().config.upstreams, upstreams, 'an untouched collection is the same object');
  t.is(after.b, before.b, 'an untouched route is the same object');
  await put(`${prefix}/routes/b`, { match: { paths: [] } });
  await waitFor(() => !last().config.routes!.b, { message: 'bad put applied' });
  const bad = lineageOf(last().config.routes!)!;
  t.deepEqual(bad.changed, []);
  t.deepEqual(bad.removed, ['b']);
});

test('a large kind after an edit is the previous record plus a layer of changes, read like a rebuilt one; a reload or a big burst rebuilds it', async (t) => {
  const { prefix, last, updates } = await source(t, { layerMin: 3 });
  await put(`${prefix}/upstreams/users`, upstream);
  for (const n of ['a', 'b', 'c']) await put(`${prefix}/routes/${n}`, route(`/${n}`));
  await waitFor(() => last().config.routes!.c, { message: 'routes applied' });
  const before = last().config.routes!;
  await put(`${prefix}/routes/d`, route('/d'));
  await client.delete().key(`${prefix}/routes/a`).exec();
  await put(`${prefix}/routes/b`, route('/b2'));
  await waitFor(() => last().config.routes!.d && !last().config.routes!.a && (last().config.routes!.b as { match: { paths: string[] } }).match.paths[0] === '/b2', { message: 'edits applied' });
  const after = last().config.routes!;
  t.true(isLayered(after), 'a layer over the earlier record, not a copy');
  t.false(isLayered(last().config.upstreams), 'a kind under layerMin stays a plain record');
  t.deepEqual(Object.keys(after).sort(), ['b', 'c', 'd']);
  t.is(after.c, before.c, 'an untouched route is the same object');
  t.deepEqual(JSON.parse(JSON.stringify(after)), { b: route('/b2'), c: route('/c'), d: route('/d') });
  const l = lineageFrom(after, before)!;
  t.deepEqual([...l.changed].sort(), ['b', 'd']);
  t.deepEqual(l.removed, ['a']);
  // More changes than a layer holds: folded into a plain record again on the way, nothing lost.
  const seen = updates.length;
  const many = Array.from({ length: FOLD_AT + 1 }, (_, i) => `m${i}`);
  await Promise.all(many.map((n) => put(`${prefix}/routes/${n}`, route(`/${n}`))));
  await waitFor(() => Object.hasOwn(last().config.routes!, many.at(-1)!) && Object.keys(last().config.routes!).length === 3 + many.length, { message: 'burst applied' });
  t.true(updates.slice(seen).some((u) => !isLayered(u.config.routes)), 'a plain record once the layer would pass FOLD_AT');
  t.deepEqual((last().config.routes!.m7 as { match: { paths: string[] } }).match.paths, ['/m7']);
});

test('no change is lost between the load and the watch', async (t) => {
  const prefix = `/t-${randomUUID()}`;
  await put(`${prefix}/routes/a`, route('/a'));
  // A client whose first range read is followed by a write before the source starts watching.
  const c = createEtcdClient([etcd.endpoint]);
  t.teardown(() => c.close());
  const getAll = c.getAll.bind(c);
  let hook: (() => Promise<unknown>) | undefined = () => put(`${prefix}/routes/between`, route('/between'));
  c.getAll = () => {
    const b = getAll();
    const exec = b.exec.bind(b);
    b.exec = async () => { const r = await exec(); const h = hook; hook = undefined; await h?.(); return r; };
    return b;
  };
  const { src, last } = await source(t, { client: c }, prefix);
  t.falsy(last().config.routes!.between, 'the load predates the write');
  await waitFor(() => last().config.routes!.between, { message: 'write between load and watch delivered' });
  t.is(src.reloads, 0, 'delivered by the watch, not by a reload');
  // And a write right after start() resolves is seen too.
  await put(`${prefix}/routes/after`, route('/after'));
  await waitFor(() => last().config.routes!.after, { message: 'write right after start' });
});

// Serial: compaction is global to etcd and would also hit the other tests' watches.
test.serial('a compacted watch start triggers a full reload', async (t) => {
  const prefix = `/t-${randomUUID()}`;
  await put(`${prefix}/routes/a`, route('/a'));
  const c = createEtcdClient([etcd.endpoint]);
  t.teardown(() => c.close());
  const getAll = c.getAll.bind(c);
  // After the first load: change things and compact past the load, so watching from load+1 fails.
  let hook: (() => Promise<void>) | undefined = async () => {
    await put(`${prefix}/routes/b`, route('/b'));
    await client.delete().key(`${prefix}/routes/a`).exec();
    const res = await put(`${prefix}/routes/c`, route('/c'));
    await etcd.ctl('compact', res.header.revision);
  };
  c.getAll = () => {
    const b = getAll();
    const exec = b.exec.bind(b);
    b.exec = async () => { const r = await exec(); const h = hook; hook = undefined; await h?.(); return r; };
    return b;
  };
  const { src, last, records } = await source(t, { client: c }, prefix);
  t.deepEqual(Object.keys(last().config.routes!), ['a']);
  await waitFor(() => Object.keys(last().config.routes!).sort().join() === 'b,c', { message: 'reloaded after compaction' });
  t.is(src.reloads, 1);
  t.true(records.some((r) => /compacted/.test(String(r.reason))), 'the reason is logged');
  await put(`${prefix}/routes/d`, route('/d'));
  await waitFor(() => last().config.routes!.d, { message: 'watching again after the reload' });
});

test('bursts are coalesced into few updates, the last one complete', async (t) => {
  const { prefix, updates, last, src } = await source(t);
  const before = updates.length;
  let rev = 0;
  for (let i = 0; i < 50; i++) rev = Number((await put(`${prefix}/routes/r${i}`, route(`/r${i}`))).header.revision);
  await waitFor(() => last().revision === rev, { message: 'last put applied' });
  const n = updates.length - before;
  t.log(`50 sequential puts -> ${n} updates`);
  t.true(n < 50, `${n} updates`);
  t.is(Object.keys(last().config.routes!).length, 50);
  t.is(src.revision, rev);
});

test('a lone change goes out at once; a change within coalesceMs of the last update waits for the window', async (t) => {
  const window = 1500;
  const { prefix, updates, last } = await source(t, { coalesceMs: window });
  await new Promise((r) => setTimeout(r, window + 100)); // quiet since the first load
  const n = updates.length;
  const t0 = performance.now();
  await put(`${prefix}/routes/lone`, route('/lone'));
  await waitFor(() => updates.length > n, { interval: 1, message: 'lone change applied' });
  const lone = performance.now() - t0;
  t.true(last().config.routes!.lone !== undefined);
  t.true(lone < window / 2, `a lone change waited ${lone.toFixed(0)} ms: the window delayed it`);
  const t1 = performance.now();
  await put(`${prefix}/routes/next`, route('/next'));
  await waitFor(() => last().config.routes!.next, { interval: 1, message: 'second change applied' });
  t.true(performance.now() - t0 >= window - 5, 'the second change waited for the window after the first update');
  t.is(updates.length, n + 2);
  t.log(`lone change ${lone.toFixed(1)} ms; the next one ${(performance.now() - t1).toFixed(0)} ms`);
});

test('churn of node and registry keys under the prefix is not a config update', async (t) => {
  const { prefix, updates, last } = await source(t);
  const n = updates.length;
  await put(`${prefix}/nodes/n1`, { address: 'a' });
  await put(`${prefix}/registry/users/i1`, { url: 'http://127.0.0.1:1' });
  await put(`${prefix}/routes/r`, route('/r'));
  await waitFor(() => last().config.routes!.r, { message: 'route applied' });
  t.is(updates.length, n + 1);
});
