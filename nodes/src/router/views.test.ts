/**
 * Path views: `caseSensitive: false` and `strictSlash: false` routes match folded spellings of
 * a path, with global precedence and params taken from the path as received.
 */
import test from 'ava';
import { paramsOf, table, winner } from './testkit.ts';

test('caseSensitive false: any ASCII case of the literals matches; the default stays exact', (t) => {
  const r = table([
    { name: 'admin', paths: ['/Admin', '/admin/*'], caseSensitive: false },
    { name: 'public', paths: ['/*'] },
    { name: 'docs', paths: ['/docs'] },
  ]);
  for (const p of ['/admin', '/ADMIN', '/aDmIn', '/Admin/x', '/ADMIN/Users/Bob']) t.is(winner(r, p), 'admin', p);
  t.is(winner(r, '/admin/'), 'admin');
  t.is(winner(r, '/admins'), 'public');
  t.is(winner(r, '/DOCS'), 'public', 'a case-sensitive route is not widened');
  t.is(winner(r, '/docs'), 'docs');
  t.deepEqual(paramsOf(r, '/ADMIN/Users/Bob'), { '*': 'Users/Bob' }, 'the rest keeps its case');
});

test('caseSensitive false: params keep their case and percent-escapes match either hex case', (t) => {
  const r = table([{ name: 'u', paths: ['/Users/:id/Files/%C3%A9'], caseSensitive: false }]);
  t.deepEqual(paramsOf(r, '/USERS/AbC/files/%c3%a9'), { id: 'AbC' });
  t.is(winner(r, '/users/x/files/e'), undefined);
});

test('strictSlash false: one trailing slash does not matter, for exact, param and prefix routes', (t) => {
  const r = table([
    { name: 'exact', paths: ['/admin'], strictSlash: false },
    { name: 'slashed', paths: ['/docs/'], strictSlash: false },
    { name: 'param', paths: ['/users/:id'], strictSlash: false },
    { name: 'prefix', paths: ['/api/*'], strictSlash: false },
    { name: 'public', paths: ['/*'] },
  ]);
  t.is(winner(r, '/admin'), 'exact');
  t.is(winner(r, '/admin/'), 'exact');
  t.is(winner(r, '/docs'), 'slashed');
  t.is(winner(r, '/docs/'), 'slashed');
  t.deepEqual(paramsOf(r, '/users/7/'), { id: '7' });
  t.is(winner(r, '/users/7/x'), 'public');
  t.deepEqual(paramsOf(r, '/api'), { '*': '' });
  t.deepEqual(paramsOf(r, '/api/'), { '*': '' });
  t.deepEqual(paramsOf(r, '/api/a/b/'), { '*': 'a/b/' });
  t.is(winner(r, '/apix'), 'public');
  t.is(winner(r, '/admin//'), 'public', 'only one slash is folded (normalised paths never hold two)');
});

test('strictSlash default: /admin and /admin/ stay different paths; /x/* does not match /x', (t) => {
  const r = table([{ name: 'exact', paths: ['/admin'] }, { name: 'prefix', paths: ['/api/*'] }]);
  t.is(winner(r, '/admin/'), undefined);
  t.is(winner(r, '/api'), undefined);
});

test('both folds together', (t) => {
  const r = table([{ name: 'admin', paths: ['/admin', '/admin/*'], caseSensitive: false, strictSlash: false }, { name: 'public', paths: ['/*'] }]);
  for (const p of ['/ADMIN/', '/Admin', '/ADMIN/X/', '/admin']) t.is(winner(r, p), 'admin', p);
  t.is(winner(r, '/'), 'public');
});

test('precedence is global across views', (t) => {
  const r = table([
    { name: 'folded-prefix', paths: ['/a/*'], caseSensitive: false, strictSlash: false },
    { name: 'exact', paths: ['/a/b'] },
    { name: 'high', paths: ['/A/*'], caseSensitive: false, priority: 5 },
  ]);
  t.is(winner(r, '/a/b'), 'high', 'priority first, whatever the view');
  const s = table([
    { name: 'folded-prefix', paths: ['/a/*'], caseSensitive: false },
    { name: 'exact', paths: ['/a/b'] },
    { name: 'folded-exact', paths: ['/A/C'], caseSensitive: false },
  ]);
  t.is(winner(s, '/a/b'), 'exact', 'exact beats a prefix of another view');
  t.is(winner(s, '/a/c'), 'folded-exact');
  t.is(winner(s, '/a/d'), 'folded-prefix');
  t.is(winner(s, '/A/B'), 'folded-prefix', 'the exact route is case-sensitive');
});

test('method and header conditions fall through across views', (t) => {
  const r = table([
    { name: 'get-only', paths: ['/admin'], methods: ['GET'], caseSensitive: false },
    { name: 'any', paths: ['/ADMIN'] },
  ]);
  t.is(winner(r, '/ADMIN', { method: 'GET' }), 'get-only');
  t.is(winner(r, '/ADMIN', { method: 'POST' }), 'any');
  t.is(winner(r, '/admin', { method: 'POST' }), undefined);
});

test('hosts work in every view', (t) => {
  const r = table([
    { name: 'exact-host', hosts: ['api.test'], paths: ['/admin'], caseSensitive: false },
    { name: 'wild', hosts: ['*.test'], paths: ['/admin/*'], strictSlash: false },
  ]);
  t.is(winner(r, '/ADMIN', { host: 'api.test' }), 'exact-host');
  t.is(winner(r, '/ADMIN', { host: 'b.test' }), undefined);
  t.is(winner(r, '/admin', { host: 'b.test' }), 'wild');
});
