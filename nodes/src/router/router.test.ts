import test from 'ava';
import { Router } from './index.ts';
import { paramsOf, table, winner } from './testkit.ts';
import { hashString } from './trie.ts';

test('exact path matches only itself; trailing slash is a different path', (t) => {
  const r = table([{ name: 'users', paths: ['/users'] }, { name: 'slash', paths: ['/users/'] }]);
  t.is(winner(r, '/users'), 'users');
  t.is(winner(r, '/users/'), 'slash');
  t.is(winner(r, '/users/1'), undefined);
  t.is(winner(r, '/user'), undefined);
  t.is(winner(r, '/usersx'), undefined);
  t.is(r.match('gw.test', '/users', 'GET', {})?.params, undefined);
});

test("'/users' exact does not match '/users/'", (t) => {
  const r = table([{ name: 'users', paths: ['/users'] }]);
  t.is(winner(r, '/users/'), undefined);
});

test("root '/' is an exact path of its own", (t) => {
  const r = table([{ name: 'root', paths: ['/'] }]);
  t.is(winner(r, '/'), 'root');
  t.is(winner(r, '/a'), undefined);
});

test("prefix '/users/*' matches '/users/' and below, not '/users', and captures the rest", (t) => {
  const r = table([{ name: 'p', paths: ['/users/*'] }]);
  t.is(winner(r, '/users'), undefined);
  t.deepEqual(paramsOf(r, '/users/'), { '*': '' });
  t.deepEqual(paramsOf(r, '/users/42'), { '*': '42' });
  t.deepEqual(paramsOf(r, '/users/42/posts/'), { '*': '42/posts/' });
  t.is(winner(r, '/usersx/1'), undefined);
});

test("'/*' matches every path, '/' included", (t) => {
  const r = table([{ name: 'all', paths: ['/*'] }]);
  t.deepEqual(paramsOf(r, '/'), { '*': '' });
  t.deepEqual(paramsOf(r, '/a/b'), { '*': 'a/b' });
});

test('a param matches exactly one non-empty segment', (t) => {
  const r = table([{ name: 'u', paths: ['/users/:id'] }]);
  t.deepEqual(paramsOf(r, '/users/42'), { id: '42' });
  t.deepEqual(paramsOf(r, '/users/a%2Fb'), { id: 'a%2Fb' }, 'no decoding');
  t.is(winner(r, '/users/'), undefined);
  t.is(winner(r, '/users'), undefined);
  t.is(winner(r, '/users/1/2'), undefined);
});

test('params and rest combine', (t) => {
  const r = table([{ name: 'c', paths: ['/orgs/:org/repos/:repo/*'] }]);
  t.deepEqual(paramsOf(r, '/orgs/acme/repos/gw/tree/main'), { org: 'acme', repo: 'gw', '*': 'tree/main' });
  t.deepEqual(paramsOf(r, '/orgs/acme/repos/gw/'), { org: 'acme', repo: 'gw', '*': '' });
  t.is(winner(r, '/orgs/acme/repos/gw'), undefined);
});

test('params are named per route even when routes share a param position', (t) => {
  const r = table([{ name: 'a', paths: ['/x/:id/a'] }, { name: 'b', paths: ['/x/:key/b'] }]);
  t.deepEqual(paramsOf(r, '/x/1/a'), { id: '1' });
  t.deepEqual(paramsOf(r, '/x/2/b'), { key: '2' });
});

test('a dead-end static branch falls back to the param branch', (t) => {
  const r = table([{ name: 'me', paths: ['/users/me/settings'] }, { name: 'byId', paths: ['/users/:id/posts'] }]);
  t.deepEqual(paramsOf(r, '/users/me/posts'), { id: 'me' });
  t.is(winner(r, '/users/me/settings'), 'me');
});

test('captures of the winner survive exploring later branches', (t) => {
  // The high-priority routes are explored after the winner was found (param branches after
  // static ones, any-host after exact host) and overwrite the capture scratch, then fail.
  const r = table([
    { name: 'win', hosts: ['h.test'], paths: ['/a/b/:x'] },
    { name: 'later', paths: ['/a/:q/never', '/:p/:r/never'], priority: 10 },
  ]);
  t.deepEqual(paramsOf(r, '/a/b/c', { host: 'h.test' }), { x: 'c' });
});

test('exact hosts compare lower-case; no host condition matches any host', (t) => {
  const r = table([{ name: 'api', hosts: ['API.Example.com'], paths: ['/x'] }, { name: 'any', paths: ['/y'] }]);
  t.is(winner(r, '/x', { host: 'api.example.com' }), 'api');
  t.is(winner(r, '/x', { host: 'www.example.com' }), undefined);
  t.is(winner(r, '/y', { host: 'whatever.test' }), 'any');
  t.is(winner(r, '/y', { host: '' }), 'any');
});

test('wildcard hosts match one or more labels, never the bare suffix', (t) => {
  const r = table([{ name: 'w', hosts: ['*.example.com'], paths: ['/*'] }]);
  t.is(winner(r, '/', { host: 'a.example.com' }), 'w');
  t.is(winner(r, '/', { host: 'a.b.example.com' }), 'w');
  t.is(winner(r, '/', { host: 'example.com' }), undefined);
  t.is(winner(r, '/', { host: 'badexample.com' }), undefined);
  t.is(winner(r, '/', { host: '.example.com' }), undefined);
  t.is(winner(r, '/', { host: 'example.com.evil' }), undefined);
});

test('a route with several hosts and paths matches any combination', (t) => {
  const r = table([{ name: 'm', hosts: ['a.test', '*.b.test'], paths: ['/one', '/two/:n'] }]);
  t.is(winner(r, '/one', { host: 'a.test' }), 'm');
  t.deepEqual(paramsOf(r, '/two/2', { host: 'x.b.test' }), { n: '2' });
  t.is(winner(r, '/one', { host: 'c.test' }), undefined);
});

test('methods filter, and a rejected route falls through to the next candidate', (t) => {
  const r = table([
    { name: 'write', paths: ['/users/:id'], methods: ['put', 'DELETE'] },
    { name: 'read', paths: ['/users/*'], methods: ['GET'] },
  ]);
  t.is(winner(r, '/users/1', { method: 'PUT' }), 'write');
  t.is(winner(r, '/users/1', { method: 'DELETE' }), 'write');
  t.is(winner(r, '/users/1', { method: 'GET' }), 'read');
  t.is(winner(r, '/users/1', { method: 'POST' }), undefined);
  t.is(winner(r, '/users/1', { method: 'HEAD' }), undefined, 'HEAD is not implied by GET');
});

test('headers match exact values, and a rejected route falls through', (t) => {
  const r = table([
    { name: 'v2', paths: ['/api/*'], headers: { 'X-Version': '2' } },
    { name: 'v1', paths: ['/api/*'] },
  ]);
  t.is(winner(r, '/api/x', { headers: { 'x-version': '2' } }), 'v2');
  t.is(winner(r, '/api/x', { headers: { 'x-version': '2 ' } }), 'v1');
  t.is(winner(r, '/api/x', { headers: { 'x-version': '20' } }), 'v1');
  t.is(winner(r, '/api/x'), 'v1');
  t.is(winner(r, '/api/x', { headers: { 'x-version': ['1', '2'] } }), 'v2', 'any occurrence of a repeated header');
});

test('all header conditions must hold', (t) => {
  const r = table([{ name: 'h', paths: ['/'], headers: { a: '1', b: '2' } }]);
  t.is(winner(r, '/', { headers: { a: '1', b: '2' } }), 'h');
  t.is(winner(r, '/', { headers: { a: '1' } }), undefined);
});

test('empty hosts and methods lists mean no condition', (t) => {
  const r = table([{ name: 'e', hosts: [], methods: [], paths: ['/e'] }]);
  t.is(winner(r, '/e', { host: 'x.test', method: 'PATCH' }), 'e');
});

test('size counts routes, not paths or hosts', (t) => {
  t.is(table([{ name: 'a', paths: ['/a', '/b'], hosts: ['x', 'y'] }, { name: 'b', paths: ['/c'] }]).size, 2);
  t.is(new Router<number>([]).size, 0);
  t.is(new Router<number>([]).match('h', '/', 'GET', {}), undefined);
});

test('malformed patterns are rejected when the table is built, naming the route', (t) => {
  const bad: Array<[string, string]> = [
    ['users', "must start with '/'"],
    ['/a/*/b', "'*' is only allowed"],
    ['/a*', "'*' is only allowed"],
    ['/a//b', 'empty segment'],
    ['/a//*', 'empty segment'],
    ['/a/../b', 'dot segments'],
    ['/a/:', 'param name'],
    ['/a/:__proto__x-y', 'param name'],
    ['/a/:id/:id', 'appears twice'],
    ['/a?x=1', 'query'],
  ];
  for (const [path, why] of bad) {
    const err = t.throws(() => table([{ name: 'r1', paths: [path] }]));
    t.true(err.message.includes('route "r1"') && err.message.includes(why), `${path}: ${err.message}`);
  }
  t.throws(() => table([{ name: 'h', hosts: ['a.*.com'], paths: ['/'] }]), { message: /host "a\.\*\.com"/ });
  t.throws(() => table([{ name: 'h', hosts: ['*'], paths: ['/'] }]), { message: /host/ });
  t.throws(() => table([{ name: 'p', paths: [] }]), { message: /at least one path/ });
  t.throws(() => table([{ name: 'n', paths: ['/'], priority: Number.NaN }]), { message: /priority/ });
});

test('segments whose hashes collide stay distinct', (t) => {
  // The trie keys static children by a hash of the segment; 'Aa' and 'BB' share one, so the
  // collision chain has to tell them apart. A param sibling forces the hashed lookup path.
  t.is(hashString('Aa'), hashString('BB'));
  const r = table([
    { name: 'Aa', paths: ['/Aa/:x'] },
    { name: 'BB', paths: ['/BB/:x'] },
    { name: 'Ab', paths: ['/Ab/*'] },
  ]);
  t.is(winner(r, '/Aa/1'), 'Aa');
  t.is(winner(r, '/BB/1'), 'BB');
  t.is(winner(r, '/Ab/1'), 'Ab');
  t.is(winner(r, '/Bb/1'), undefined);
});

test('wildcard suffixes of the same length are told apart', (t) => {
  const r = table([
    { name: 'ana', hosts: ['*.ana'], paths: ['/h'] },
    { name: 'a0c', hosts: ['*.a0c'], paths: ['/h'] },
    { name: 'longer', hosts: ['*.x.ana'], paths: ['/h'] },
  ]);
  t.is(winner(r, '/h', { host: 'x.ana' }), 'ana');
  t.is(winner(r, '/h', { host: 'x.a0c' }), 'a0c');
  t.is(winner(r, '/h', { host: 'y.x.ana' }), 'longer');
  t.is(winner(r, '/h', { host: 'x.a0d' }), undefined);
});

test('runs of single static children are compacted without losing branch points', (t) => {
  // '/api/v1/svc' collapses into one node; the tests below probe each boundary of that run.
  const r = table([
    { name: 'deep', paths: ['/api/v1/svc/:id'] },
    { name: 'mid', paths: ['/api/:ver/other'] },
    { name: 'tail', paths: ['/api/v1/svc/:id/x/y/'] },
  ]);
  t.deepEqual(paramsOf(r, '/api/v1/svc/7'), { id: '7' });
  t.is(winner(r, '/api/v1/svcx/7'), undefined);
  t.is(winner(r, '/api/v1/sv/7'), undefined);
  t.deepEqual(paramsOf(r, '/api/v1/other'), { ver: 'v1' });
  t.deepEqual(paramsOf(r, '/api/v1/svc/7/x/y/'), { id: '7' });
  t.is(winner(r, '/api/v1/svc/7/x/y'), undefined);
  t.is(winner(r, '/api/v1/svc/7/x/yy/'), undefined);
});
