import test from 'ava';
import type { EtcdServer } from '../helpers/etcd.ts';
import { configKeys, DOC, etcdKeys, route, adminsPerFile, UPSTREAM } from './harness.ts';

let etcd: EtcdServer;
const admin = adminsPerFile(test, (e) => { etcd = e; });
const flat = (doc: Record<string, Record<string, unknown>>) =>
  Object.fromEntries(Object.entries(doc).flatMap(([kind, items]) => Object.entries(items).map(([n, v]) => [`${kind}/${n}`, v])));

test('apply writes every item as JSON under its key, in one revision', async (t) => {
  const a = await admin();
  const r = await a.call('POST', '/v1/apply', DOC);
  t.is(r.status, 200, r.body);
  const b = r.json();
  t.true(b.applied);
  t.deepEqual(b.changes.map((c: any) => `${c.action} ${c.kind}/${c.name}`), [
    'added upstreams/users', 'added upstreams/orders', 'added consumers/alice', 'added routes/users-api', 'added routes/orders-api',
  ]);
  t.deepEqual(await configKeys(etcd, a.prefix), flat(DOC));
  const revs = new Set(Object.values((await a.store.read()).items).flatMap((m) => [...m.values()].map((i) => i.modRevision)));
  t.deepEqual([...revs], [b.revision], 'one transaction');
  const again = (await a.call('POST', '/v1/apply', DOC)).json();
  t.false(again.applied);
  t.deepEqual(again.changes, []);
  t.is(again.unchanged, 5);
});

test('apply is atomic: one bad route, every error with its path, nothing written', async (t) => {
  const a = await admin();
  await a.call('POST', '/v1/apply', { upstreams: { users: UPSTREAM } });
  const before = await etcdKeys(etcd, a.prefix);
  const doc = {
    upstreams: { users: { targets: [{ url: 'http://127.0.0.1:3009' }] }, broken: { balance: 'random' } },
    consumers: { bob: { keys: ['plaintext-key'] } },
    routes: { ok: route('users'), bad: { match: { paths: ['nope'] }, upstream: 'missing' } },
  };
  const r = await a.call('POST', '/v1/apply', doc);
  t.is(r.status, 400);
  t.is(r.json().code, 'GW_VALIDATION_FAILED');
  const lines: string[] = r.json().errors.map((e: any) => `${e.path}: ${e.message}`);
  for (const want of [
    'routes.bad.match.paths[0]: must start with /',
    'routes.bad.upstream: unknown upstream "missing"',
    'consumers.bob.keys[0]: must be sha256:<64 hex digits> (the digest, never the key)',
    'upstreams.broken: needs targets or discovery',
  ]) t.true(lines.includes(want), `${want}\n--- got:\n${lines.join('\n')}`);
  t.true(lines.some((l) => l.startsWith('upstreams.broken.balance: ')), lines.join('\n'));
  t.deepEqual(await etcdKeys(etcd, a.prefix), before, 'nothing written, not even the good items');
});

test('validation runs on the merged result: references to stored upstreams are fine, --prune removing a used one is not', async (t) => {
  const a = await admin();
  await a.call('POST', '/v1/apply', { upstreams: { users: UPSTREAM, spare: UPSTREAM } });
  const ok = await a.call('POST', '/v1/apply', { routes: { r: route('users') } });
  t.is(ok.status, 200, ok.body);
  const pruned = await a.call('POST', '/v1/apply?prune=true', { upstreams: { spare: UPSTREAM } });
  t.is(pruned.status, 400);
  t.deepEqual(pruned.json().errors, [{ path: 'routes.r.upstream', message: 'unknown upstream "users"' }]);
  t.truthy((await configKeys(etcd, a.prefix))['upstreams/users']);
});

test('prune deletes the items of the document\'s kinds that it lacks; other kinds, nodes and registry stay', async (t) => {
  const a = await admin();
  await a.call('POST', '/v1/apply', DOC);
  await etcd.ctl('put', `${a.prefix}/nodes/n1`, '{"address":"x:1","version":"0","revision":1,"startedAt":""}');
  await etcd.ctl('put', `${a.prefix}/registry/users/i1`, '{"url":"http://127.0.0.1:1"}');
  const doc = { upstreams: DOC.upstreams, routes: { 'users-api': DOC.routes['users-api'] } };
  const plain = (await a.call('POST', '/v1/apply', doc)).json();
  t.false(plain.applied);
  t.deepEqual(plain.kept, ['routes/orders-api']);
  const r = await a.call('POST', '/v1/apply?prune=true', doc);
  t.is(r.status, 200, r.body);
  t.deepEqual(r.json().changes.map((c: any) => `${c.action} ${c.kind}/${c.name}`), ['removed routes/orders-api']);
  const keys = await etcdKeys(etcd, a.prefix);
  t.falsy(keys[`${a.prefix}/routes/orders-api`]);
  t.truthy(keys[`${a.prefix}/consumers/alice`], 'consumers were not in the document: untouched');
  t.truthy(keys[`${a.prefix}/nodes/n1`]);
  t.truthy(keys[`${a.prefix}/registry/users/i1`]);
  // An empty section prunes that whole kind.
  const empty = await a.call('POST', '/v1/apply?prune=true', 'upstreams:\n  users: { targets: [{ url: "http://127.0.0.1:3001" }] }\n  orders: { targets: [{ url: "http://127.0.0.1:3002", weight: 2 }] }\nconsumers:\n');
  t.is(empty.status, 200, empty.body);
  t.deepEqual(empty.json().changes.map((c: any) => `${c.action} ${c.kind}/${c.name}`), ['removed consumers/alice']);
});

test('dryRun returns the changes and writes nothing', async (t) => {
  const a = await admin();
  await a.call('POST', '/v1/apply', { upstreams: { users: UPSTREAM, old: UPSTREAM } });
  const before = await etcdKeys(etcd, a.prefix);
  const r = await a.call('POST', '/v1/apply?dryRun=true&prune=true', { upstreams: { users: { targets: [{ url: 'http://127.0.0.1:4000' }] }, fresh: UPSTREAM } });
  t.is(r.status, 200);
  t.like(r.json(), { applied: false, dryRun: true });
  t.deepEqual(r.json().changes.map((c: any) => `${c.action} ${c.kind}/${c.name}`), ['changed upstreams/users', 'added upstreams/fresh', 'removed upstreams/old']);
  t.deepEqual(await etcdKeys(etcd, a.prefix), before);
  t.is((await a.call('POST', '/v1/apply?dryRun=maybe', {})).status, 400);
});

test('diff: per-key added / changed / removed with before and after; key order is not a change', async (t) => {
  const a = await admin();
  await a.call('POST', '/v1/apply', DOC);
  const doc = {
    upstreams: { orders: { targets: [{ weight: 2, url: 'http://127.0.0.1:3002' }] }, users: { ...UPSTREAM, balance: 'least-request' } },
    routes: { 'users-api': DOC.routes['users-api'], new: route('users', '/new') },
  };
  const r = await a.call('POST', '/v1/diff?prune=true', doc);
  t.is(r.status, 200);
  const b = r.json();
  t.deepEqual(b.changes, [
    { action: 'changed', kind: 'upstreams', name: 'users', key: `${a.prefix}/upstreams/users`, before: UPSTREAM, after: { ...UPSTREAM, balance: 'least-request' } },
    { action: 'added', kind: 'routes', name: 'new', key: `${a.prefix}/routes/new`, after: route('users', '/new') },
    { action: 'removed', kind: 'routes', name: 'orders-api', key: `${a.prefix}/routes/orders-api`, before: DOC.routes['orders-api'] },
  ]);
  t.is(b.unchanged, 2);
  t.deepEqual(b.errors, []);
  const noPrune = (await a.call('GET', '/v1/diff', doc)).json();
  t.deepEqual(noPrune.kept, ['routes/orders-api']);
  t.false(noPrune.changes.some((c: any) => c.action === 'removed'));
  const invalid = (await a.call('POST', '/v1/diff', { routes: { x: route('missing') } })).json();
  t.deepEqual(invalid.errors, [{ path: 'routes.x.upstream', message: 'unknown upstream "missing"' }]);
});

test('the document shape: a node section is ignored with a note, unknown sections and non-maps are errors', async (t) => {
  const a = await admin();
  const r = await a.call('POST', '/v1/apply', { node: { listen: '127.0.0.1:8080' }, upstreams: { users: UPSTREAM } });
  t.is(r.status, 200);
  t.regex(r.json().notes[0], /node: section was ignored/);
  const bad = await a.call('POST', '/v1/apply', { services: {}, routes: [] });
  t.is(bad.status, 400);
  t.deepEqual(bad.json().errors, [
    { path: '(root)', message: 'unknown field "services" (expected upstreams, consumers, routes, protos)' },
    { path: 'routes', message: 'must be a mapping of name to route' },
  ]);
  t.is((await a.call('POST', '/v1/apply', '[1, 2]')).json().errors[0].path, '(root)');
  t.is((await a.call('POST', '/v1/apply', 'routes: {a: 1\n')).json().code, 'GW_BAD_REQUEST');
});

test('revision guard: a write between the diff and the commit makes the apply fail with 409 and write nothing', async (t) => {
  let race: (() => Promise<void>) | undefined;
  const a = await admin({ beforeCommit: async () => { const r = race; race = undefined; await r?.(); } });
  await a.call('POST', '/v1/apply', { upstreams: { users: UPSTREAM } });
  // A put behind the admin API's back (etcdctl) ...
  race = async () => { await etcd.ctl('put', `${a.prefix}/upstreams/users`, JSON.stringify({ targets: [{ url: 'http://127.0.0.1:7777' }] })); };
  const r = await a.call('POST', '/v1/apply', { routes: { r: route('users') }, consumers: { c: {} } });
  t.is(r.status, 409);
  t.is(r.json().code, 'GW_CONFLICT');
  let keys = await configKeys(etcd, a.prefix);
  t.deepEqual(Object.keys(keys), ['upstreams/users']);
  // ... and a delete through the admin API (the marker key catches deletes).
  await a.call('POST', '/v1/apply', { upstreams: { spare: UPSTREAM } });
  race = async () => { t.is((await a.call('DELETE', '/v1/upstreams/spare')).status, 200); };
  const r2 = await a.call('POST', '/v1/apply', { routes: { r: route('spare') } });
  t.is(r2.status, 409);
  keys = await configKeys(etcd, a.prefix);
  t.falsy(keys['routes/r'], 'the route to the deleted upstream was not written');
  // Single-item writes are guarded the same way.
  race = async () => { await a.call('PUT', '/v1/consumers/other', {}); };
  t.is((await a.call('PUT', '/v1/routes/r', route('users'))).status, 409);
  t.is((await a.call('PUT', '/v1/routes/r', route('users'))).status, 201, 'and go through once nothing races');
});

test('two concurrent applies through two admin APIs never interleave: every item ends up from one document', async (t) => {
  const a = await admin();
  const b = await admin({ prefix: a.prefix });
  const docFor = (port: number) => ({
    upstreams: { u1: { targets: [{ url: `http://127.0.0.1:${port}` }] }, u2: { targets: [{ url: `http://127.0.0.1:${port}` }] } },
    routes: { r1: route('u1', '/a'), r2: route('u2', '/b') },
  });
  for (let round = 0; round < 5; round++) {
    const results = await Promise.all([a.call('POST', '/v1/apply', docFor(1000 + round)), b.call('POST', '/v1/apply', docFor(2000 + round))]);
    t.true(results.every((r) => r.status === 200 || r.status === 409), results.map((r) => r.body).join('\n'));
    t.true(results.some((r) => r.status === 200));
    const keys = await configKeys(etcd, a.prefix);
    const ports = new Set([keys['upstreams/u1'], keys['upstreams/u2']].map((v: any) => v.targets[0].url));
    t.is(ports.size, 1, `round ${round}: ${[...ports].join(' ')}`);
  }
});

test('revision pin: apply ?revision=N refuses if the config changed after N (the diff the user reviewed)', async (t) => {
  const a = await admin();
  await a.call('POST', '/v1/apply', { upstreams: { users: UPSTREAM } });
  const d = (await a.call('POST', '/v1/diff', { routes: { r: route('users') } })).json();
  const pinned = await a.call('POST', `/v1/apply?revision=${d.configRevision}`, { routes: { r: route('users') } });
  t.is(pinned.status, 200, pinned.body);
  const d2 = (await a.call('POST', '/v1/diff', { consumers: { c: {} } })).json();
  await etcd.ctl('put', `${a.prefix}/upstreams/users`, JSON.stringify({ targets: [{ url: 'http://127.0.0.1:7' }] }));
  const stale = await a.call('POST', `/v1/apply?revision=${d2.configRevision}`, { consumers: { c: {} } });
  t.is(stale.status, 409);
  t.regex(stale.json().detail, /changed at revision \d+, after revision \d+/);
  t.falsy((await configKeys(etcd, a.prefix))['consumers/c']);
});

test('a stored item that is not JSON blocks an apply that keeps it, not one that replaces or prunes it', async (t) => {
  const a = await admin();
  await etcd.ctl('put', `${a.prefix}/upstreams/junk`, 'not json');
  const keep = await a.call('POST', '/v1/apply', { upstreams: { users: UPSTREAM } });
  t.is(keep.status, 400);
  t.deepEqual(keep.json().errors, [{ path: 'upstreams.junk', message: 'stored value is not valid JSON (replace or delete it)' }]);
  const replace = await a.call('POST', '/v1/apply', { upstreams: { users: UPSTREAM, junk: UPSTREAM } });
  t.is(replace.status, 200, replace.body);
  t.deepEqual(replace.json().changes.map((c: any) => `${c.action} ${c.kind}/${c.name}`), ['added upstreams/users', 'changed upstreams/junk']);
});

test('more changes than etcd takes in one transaction: 413 with the reason, nothing written', async (t) => {
  const a = await admin();
  const consumers = Object.fromEntries(Array.from({ length: 130 }, (_, i) => [`c${i}`, { groups: ['g'] }]));
  const r = await a.call('POST', '/v1/apply', { consumers });
  t.is(r.status, 413, r.body);
  t.is(r.json().code, 'GW_PAYLOAD_TOO_LARGE');
  t.regex(r.json().detail, /--max-txn-ops/);
  t.deepEqual(await configKeys(etcd, a.prefix), {});
});
