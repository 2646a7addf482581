import test from 'ava';
import { validateConfig } from './validate.ts';
import { formatPath } from '../schema/validate.ts';

const base = { upstreams: { a: { targets: [{ url: 'http://127.0.0.1:1' }] } } };

test('paths are written as users write them', (t) => {
  t.is(formatPath('', ['routes', 'users', 'match', 'paths', 0]), 'routes.users.match.paths[0]');
  t.is(formatPath('', ['routes', 'odd name']), 'routes["odd name"]');
});

test('every error is reported with its path, not only the first', (t) => {
  const errs = validateConfig({ ...base, routes: { r: { match: { paths: ['x', '/ok', 'y'] }, upstream: 'missing', extra: 1 } } });
  t.deepEqual(errs.map((e) => e.path).sort(), ['routes.r', 'routes.r.match.paths[0]', 'routes.r.match.paths[2]', 'routes.r.upstream']);
});

test('upstreams named inside policies are checked too (traffic-split, mirror)', (t) => {
  const errs = validateConfig({
    ...base,
    routes: { r: { match: { paths: ['/r'] }, upstream: 'a', policies: { 'traffic-split': { upstreams: [{ name: 'a', weight: 1 }, { name: 'ghost', weight: 1 }] }, mirror: { upstream: 'phantom' } } } },
  });
  t.deepEqual(errs.map((e) => `${e.path}: ${e.message}`).sort(), [
    'routes.r.policies.mirror.upstream: unknown upstream "phantom"',
    'routes.r.policies.traffic-split.upstreams[1].name: unknown upstream "ghost"',
  ]);
});

test('a valid document has no errors', (t) => {
  t.deepEqual(validateConfig({ ...base, routes: { r: { match: { paths: ['/r'] }, upstream: 'a' } } }), []);
});

test('a path template may use only params the route defines (rewrite.path)', (t) => {
  const route = (path: string) => ({ ...base, routes: { r: { match: { paths: ['/v1/:id', '/v1/:id/*'] }, upstream: 'a', rewrite: { path } } } });
  t.deepEqual(validateConfig(route('/v2/:id')), []);
  t.deepEqual(validateConfig(route('/v2/:nope')).map((e) => `${e.path}: ${e.message}`), [
    'routes.r.rewrite.path: ":nope" is not defined by the route path /v1/:id',
    'routes.r.rewrite.path: ":nope" is not defined by the route path /v1/:id/*',
  ]);
  t.deepEqual(validateConfig(route('/v2/:id/*')).map((e) => e.message), ['"*" is not defined by the route path /v1/:id']);
});

test('the config side and the runtime list the same policies, in the same order, with the same contract', async (t) => {
  const { policies } = await import('../policies/registry.ts');
  const { policySpecs } = await import('../policies/specs.ts');
  t.deepEqual([...policySpecs.keys()], [...policies.keys()]);
  for (const [name, spec] of policySpecs) {
    const def = policies.get(name)!;
    t.is(def.schema, spec.schema, name);
    t.is(def.phase, spec.phase, name);
    t.is(def.priority, spec.priority, name);
    t.is(def.check, spec.check, name);
  }
});

test('each refused example alone gives exactly its one error', (t) => {
  const key = `sha256:${'cd'.repeat(32)}`;
  const one = (doc: object) => validateConfig({ ...base, ...doc }).map((e) => `${e.path}: ${e.message}`);
  t.deepEqual(one({ routes: { r: { match: { paths: ['/r'] }, upstream: 'a', policies: { 'key-auth': { header: null } } } } }),
    ['routes.r.policies.key-auth.header: is null and no query is set, so no key could ever be presented']);
  t.deepEqual(one({ routes: { r: { match: { paths: ['/r'] }, upstream: 'a', policies: { 'key-auth': { header: null, query: 'k' } } } } }), []);
  t.deepEqual(one({ consumers: { a: { keys: [key, key] }, b: { keys: [key] } } }), ['consumers.b.keys[0]: the same key is also a key of consumer "a"']);
  t.deepEqual(one({ routes: { r: { match: { paths: ['/v1/:id'] }, upstream: 'a', policies: { 'request-transform': { path: '/v2/:nope' } } } } }),
    ['routes.r.policies.request-transform.path: ":nope" is not defined by the route path /v1/:id']);
});

test('policy checks that need no I/O run at validation, all at once (cache, rate-limit, ip-restriction, basic-auth)', (t) => {
  const errs = validateConfig({
    ...base,
    consumers: { c: { passwords: ['scrypt:1000:8:1:AAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAA=='] } },
    routes: {
      r: { match: { paths: ['/r'] }, upstream: 'a', policies: { cache: { maxBytes: '1kb', maxObjectSize: '2kb' }, 'rate-limit': { limits: [{ limit: 1, window: '1s' }, { limit: 1, window: '1s' }] }, 'ip-restriction': {}, 'basic-auth': {} } },
      s: { match: { paths: ['/s'] }, upstream: 'a', policies: { 'basic-auth': {} } },
    },
  }).map((e) => `${e.path}: ${e.message}`);
  t.deepEqual(errs.sort(), [
    'consumers.c.passwords[0]: scrypt N must be a power of two from 1024 to 1048576',
    'routes.r.policies.cache.maxObjectSize: must not exceed maxBytes',
    'routes.r.policies.ip-restriction: needs allow, deny, denyUserAgents or denyReferers',
    'routes.r.policies.rate-limit.limits: names must be unique (set "name" on each)',
  ]);
});

test('an edit re-checks only the items it changed; a change an item depends on re-checks it', async (t) => {
  const { validationStats } = await import('./validate.ts');
  const routes: Record<string, unknown> = {};
  for (let i = 0; i < 500; i++) routes[`r${i}`] = { match: { paths: [`/r${i}`] }, upstream: 'a' };
  const doc = { ...base, routes };
  t.deepEqual(validateConfig(doc), []);
  let before = validationStats.itemsChecked;
  // A new document object, the same item objects but one: one item is checked.
  t.deepEqual(validateConfig({ ...doc, routes: { ...routes, r7: { match: { paths: ['/seven'] }, upstream: 'a' } } }), []);
  t.is(validationStats.itemsChecked - before, 1);
  // Cross-item checks still see the whole document: removing the upstream the cached routes name is reported for each.
  before = validationStats.itemsChecked;
  const errs = validateConfig({ routes });
  t.is(errs.length, 500);
  t.is(errs[0]!.message, 'unknown upstream "a"');
  t.is(validationStats.itemsChecked - before, 0, 'the routes themselves are unchanged: their own checks are cached');
  // A cached item under another name is checked under that name (paths carry the name).
  t.deepEqual(validateConfig({ ...base, routes: { other: { ...routes.r1 as object, upstream: 'ghost' } } }).map((e) => e.path), ['routes.other.upstream']);
  const bad = { match: { paths: ['nope'] }, upstream: 'a' };
  t.deepEqual(validateConfig({ ...base, routes: { x: bad } }).map((e) => e.path), ['routes.x.match.paths[0]']);
  t.deepEqual(validateConfig({ ...base, routes: { y: bad } }).map((e) => e.path), ['routes.y.match.paths[0]']);
});
