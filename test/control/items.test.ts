import test from 'ava';
import { startEtcd, type EtcdServer } from '../helpers/etcd.ts';
import { raw, statuses } from '../helpers/http.ts';
import { configKeys, etcdKeys, route, adminsPerFile, startAdmin, TOKEN, UPSTREAM } from './harness.ts';

let etcd: EtcdServer;
const admin = adminsPerFile(test, (e) => { etcd = e; });

test('CRUD: put creates (201) then updates (200), get returns it with an ETag, delete removes it', async (t) => {
  const a = await admin();
  const c = await a.call('PUT', '/v1/upstreams/users', UPSTREAM);
  t.is(c.status, 201, c.body);
  t.like(c.json(), { kind: 'upstreams', name: 'users', created: true, value: UPSTREAM });
  t.deepEqual(await configKeys(etcd, a.prefix), { 'upstreams/users': UPSTREAM });

  const r = await a.call('PUT', '/v1/routes/users-api', route('users'));
  t.is(r.status, 201);
  const updated = { ...route('users'), priority: 5 };
  const u = await a.call('PUT', '/v1/routes/users-api', updated);
  t.is(u.status, 200);
  t.false(u.json().created);

  const g = await a.call('GET', '/v1/routes/users-api');
  t.is(g.status, 200);
  t.deepEqual(g.json().value, updated);
  t.is(g.headers.etag, `"${g.json().modRevision}"`);

  const list = await a.call('GET', '/v1/routes');
  t.deepEqual(list.json().items, { 'users-api': updated });
  const all = await a.call('GET', '/v1/config');
  t.deepEqual([all.json().upstreams, all.json().consumers, all.json().routes], [{ users: UPSTREAM }, {}, { 'users-api': updated }]);

  const d = await a.call('DELETE', '/v1/routes/users-api');
  t.is(d.status, 200);
  t.true(d.json().deleted);
  t.is((await a.call('GET', '/v1/routes/users-api')).status, 404);
  t.deepEqual(await configKeys(etcd, a.prefix), { 'upstreams/users': UPSTREAM });
});

test('the same value again is not rewritten (no new revision, nodes do not reload)', async (t) => {
  const a = await admin();
  const first = (await a.call('PUT', '/v1/consumers/alice', { groups: ['x'] })).json();
  const again = await a.call('PUT', '/v1/consumers/alice', { groups: ['x'] });
  t.is(again.status, 200);
  t.true(again.json().unchanged);
  t.is(again.json().modRevision, first.modRevision);
});

test('validation errors come with their paths; nothing is written', async (t) => {
  const a = await admin();
  const r = await a.call('PUT', '/v1/routes/bad', { match: { paths: ['users'] }, upstream: 'missing', priorty: 1, policies: { 'no-such': {} } });
  t.is(r.status, 400);
  const body = r.json();
  t.is(body.code, 'GW_VALIDATION_FAILED');
  t.is(r.headers['content-type'], 'application/problem+json');
  const lines = body.errors.map((e: { path: string; message: string }) => `${e.path}: ${e.message}`);
  t.true(lines.includes('routes.bad.match.paths[0]: must start with /'), lines.join('\n'));
  t.true(lines.includes('routes.bad: unknown field "priorty"'), lines.join('\n'));
  t.true(lines.some((l: string) => l.startsWith('routes.bad.policies.no-such: unknown policy')), lines.join('\n'));
  t.true(lines.includes('routes.bad.upstream: unknown upstream "missing"'), lines.join('\n'));
  t.is(new Set(lines).size, lines.length, 'no error twice');
  t.deepEqual(await configKeys(etcd, a.prefix), {});
});

test('a route naming a missing upstream is refused, also through traffic-split and mirror', async (t) => {
  const a = await admin();
  t.is((await a.call('PUT', '/v1/upstreams/v1', UPSTREAM)).status, 201);
  const plain = await a.call('PUT', '/v1/routes/r', route('nope'));
  t.is(plain.status, 400);
  t.deepEqual(plain.json().errors, [{ path: 'routes.r.upstream', message: 'unknown upstream "nope"' }]);
  const split = await a.call('PUT', '/v1/routes/r', { ...route('v1'), policies: { 'traffic-split': { upstreams: [{ name: 'v1', weight: 1 }, { name: 'v2', weight: 1 }] }, mirror: { upstream: 'shadow' } } });
  t.is(split.status, 400, split.body);
  t.deepEqual(split.json().errors, [
    { path: 'routes.r.policies.traffic-split.upstreams[1].name', message: 'unknown upstream "v2"' },
    { path: 'routes.r.policies.mirror.upstream', message: 'unknown upstream "shadow"' },
  ]);
  t.deepEqual(Object.keys(await configKeys(etcd, a.prefix)), ['upstreams/v1']);
});

test('an upstream still referenced by a route cannot be deleted (409 GW_IN_USE with every reference)', async (t) => {
  const a = await admin();
  await a.call('PUT', '/v1/upstreams/users', UPSTREAM);
  await a.call('PUT', '/v1/upstreams/canary', UPSTREAM);
  await a.call('PUT', '/v1/routes/r1', route('users'));
  await a.call('PUT', '/v1/routes/r2', { ...route('canary', '/c'), policies: { 'traffic-split': { upstreams: [{ name: 'users', weight: 1 }] } } });
  const d = await a.call('DELETE', '/v1/upstreams/users');
  t.is(d.status, 409);
  t.is(d.json().code, 'GW_IN_USE');
  t.deepEqual(d.json().errors, [
    { path: 'routes.r1.upstream', message: 'refers to upstream "users"' },
    { path: 'routes.r2.policies.traffic-split.upstreams[0].name', message: 'refers to upstream "users"' },
  ]);
  t.truthy((await configKeys(etcd, a.prefix))['upstreams/users']);
  await a.call('DELETE', '/v1/routes/r1');
  await a.call('DELETE', '/v1/routes/r2');
  t.is((await a.call('DELETE', '/v1/upstreams/users')).status, 200);
});

test('If-Match: a write from a stale read is refused with 412', async (t) => {
  const a = await admin();
  const c = await a.call('PUT', '/v1/consumers/bob', { groups: ['a'] });
  const etag = c.headers.etag as string;
  await a.call('PUT', '/v1/consumers/bob', { groups: ['b'] });
  const stale = await a.call('PUT', '/v1/consumers/bob', { groups: ['c'] }, { 'if-match': etag });
  t.is(stale.status, 412);
  t.is(stale.json().code, 'GW_PRECONDITION_FAILED');
  const fresh = (await a.call('GET', '/v1/consumers/bob')).headers.etag as string;
  t.is((await a.call('PUT', '/v1/consumers/bob', { groups: ['c'] }, { 'if-match': fresh })).status, 200);
  t.is((await a.call('DELETE', '/v1/consumers/bob', undefined, { 'if-match': fresh })).status, 412);
});

test('bad bodies: invalid JSON, duplicate YAML keys, empty: 400 with no internal text; YAML bodies work', async (t) => {
  const a = await admin();
  const bad = await a.call('PUT', '/v1/upstreams/u', '{"targets": [', { 'content-type': 'application/json' });
  t.is(bad.status, 400);
  t.is(bad.json().code, 'GW_BAD_REQUEST');
  t.regex(bad.json().detail, /^body is not valid JSON or YAML/);
  t.notRegex(bad.body, /at .*\.(ts|js):\d+/);
  const dup = await a.call('PUT', '/v1/upstreams/u', 'targets: []\ntargets: []\n', { 'content-type': 'application/yaml' });
  t.is(dup.status, 400);
  t.regex(dup.json().detail, /unique/i);
  t.is((await a.call('PUT', '/v1/upstreams/u', '')).status, 400);
  const yaml = await a.call('PUT', '/v1/upstreams/u', 'targets:\n  - url: http://127.0.0.1:9\n', { 'content-type': 'application/yaml' });
  t.is(yaml.status, 201, yaml.body);
  t.deepEqual((await configKeys(etcd, a.prefix))['upstreams/u'], { targets: [{ url: 'http://127.0.0.1:9' }] });
});

test('a body over the limit is refused with 413, a billion-laughs YAML with 400', async (t) => {
  const a = await admin({ bodyLimit: 2048 });
  const big = await a.call('PUT', '/v1/upstreams/u', { targets: [{ url: 'http://127.0.0.1:1' }], x: 'a'.repeat(4096) });
  t.is(big.status, 413);
  t.is(big.json().code, 'GW_PAYLOAD_TOO_LARGE');
  const port = Number(new URL(a.url).port);
  // Chunked, no Content-Length: the limit counts the bytes as they come.
  const chunk = 'b'.repeat(1500);
  const out = await raw(port, `PUT /v1/upstreams/u HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n${(chunk.length).toString(16)}\r\n${chunk}\r\n${(chunk.length).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`);
  t.deepEqual(statuses(out), [413]);
  const laughs = 'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n';
  const l = await a.call('POST', '/v1/apply', laughs);
  t.is(l.status, 400);
  t.deepEqual(await configKeys(etcd, a.prefix), {});
});

test('names: invalid ones are refused with their path; unknown endpoints 404; wrong methods 405 with Allow', async (t) => {
  const a = await admin();
  const slash = await a.call('PUT', `/v1/upstreams/${encodeURIComponent('a/b')}`, UPSTREAM);
  t.is(slash.status, 400);
  t.deepEqual(slash.json().errors, [{ path: 'upstreams["a/b"]', message: 'invalid name: must be letters, digits, . _ - (at most 128), starting with a letter or digit' }]);
  t.is((await a.call('PUT', '/v1/upstreams/%E0%A4%A', UPSTREAM)).status, 400);
  t.is((await a.call('GET', '/v1/widgets')).json().code, 'GW_NOT_FOUND');
  t.is((await a.call('GET', '/v1/routes/a/b')).status, 404);
  t.is((await a.call('GET', '/v2/routes')).status, 404);
  const m = await a.call('POST', '/v1/routes');
  t.is(m.status, 405);
  t.is(m.headers.allow, 'GET');
  t.is((await a.call('GET', '/v1/apply')).headers.allow, 'POST');
  t.is((await a.call('PATCH', '/v1/routes/x')).status, 405);
  t.is((await a.call('GET', '/v1/routes/nope')).json().code, 'GW_NOT_FOUND');
  t.is((await a.call('DELETE', '/v1/routes/nope')).status, 404);
});

test('a stored key that is not JSON is listed as invalid, not hidden and not a crash', async (t) => {
  const a = await admin();
  await etcd.ctl('put', `${a.prefix}/routes/broken`, '{not json');
  const list = await a.call('GET', '/v1/routes');
  t.is(list.status, 200);
  t.deepEqual(list.json().invalid, [{ name: 'broken', error: 'stored value is not valid JSON' }]);
  const one = await a.call('GET', '/v1/routes/broken');
  t.like(one.json(), { raw: '{not json', error: 'stored value is not valid JSON' });
  t.is((await a.call('DELETE', '/v1/routes/broken')).status, 200);
});

test('etcd down: 503 GW_STORE_UNAVAILABLE with no internal text; back: works again', async (t) => {
  const own = await startEtcd();
  const a = await startAdmin(own);
  t.teardown(async () => { await a.close(); await own.stop(); });
  t.is((await a.call('PUT', '/v1/upstreams/u', UPSTREAM)).status, 201);
  await own.kill();
  const r = await a.call('GET', '/v1/upstreams');
  t.is(r.status, 503);
  t.is(r.json().code, 'GW_STORE_UNAVAILABLE');
  t.is(r.json().detail, 'etcd did not answer; try again');
  await own.restart();
  const { waitFor } = await import('../helpers/wait.ts');
  await waitFor(async () => (await a.call('GET', '/v1/upstreams')).status === 200, { timeout: 10_000, message: 'admin API answers again' });
  t.deepEqual((await a.call('GET', '/v1/upstreams')).json().items, { u: UPSTREAM });
});

test('writes leave node and registry keys alone; the marker key records the last write', async (t) => {
  const a = await admin();
  await etcd.ctl('put', `${a.prefix}/nodes/n1`, JSON.stringify({ address: 'x:1', version: '0', revision: 1, startedAt: '' }));
  await etcd.ctl('put', `${a.prefix}/registry/users/i1`, JSON.stringify({ url: 'http://127.0.0.1:1' }));
  await a.call('PUT', '/v1/upstreams/u', UPSTREAM);
  await a.call('DELETE', '/v1/upstreams/u');
  const keys = await etcdKeys(etcd, a.prefix);
  t.truthy(keys[`${a.prefix}/nodes/n1`]);
  t.truthy(keys[`${a.prefix}/registry/users/i1`]);
  t.like(keys[`${a.prefix}/control/last-write`], { op: 'delete upstreams/u', changes: 1 });
});
