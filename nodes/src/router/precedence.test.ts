import test from 'ava';
import { table, winner } from './testkit.ts';
import type { TestRoute } from './testkit.ts';

/** Builds the table in both declaration orders, so no test passes by list position alone. */
function bothOrders(routes: TestRoute[], path: string, req: Parameters<typeof winner>[2] = {}): [string | undefined, string | undefined] {
  return [winner(table(routes), path, req), winner(table([...routes].reverse()), path, req)];
}

test('host: exact beats wildcard beats no host', (t) => {
  const routes: TestRoute[] = [
    { name: 'none', paths: ['/x'] },
    { name: 'wild', hosts: ['*.example.com'], paths: ['/x'] },
    { name: 'exact', hosts: ['api.example.com'], paths: ['/x'] },
  ];
  t.deepEqual(bothOrders(routes, '/x', { host: 'api.example.com' }), ['exact', 'exact']);
  t.deepEqual(bothOrders(routes, '/x', { host: 'www.example.com' }), ['wild', 'wild']);
  t.deepEqual(bothOrders(routes, '/x', { host: 'example.org' }), ['none', 'none']);
});

test('host: the longer wildcard suffix wins', (t) => {
  const routes: TestRoute[] = [
    { name: 'short', hosts: ['*.example.com'], paths: ['/x'] },
    { name: 'long', hosts: ['*.eu.example.com'], paths: ['/x'] },
  ];
  t.deepEqual(bothOrders(routes, '/x', { host: 'a.eu.example.com' }), ['long', 'long']);
  t.deepEqual(bothOrders(routes, '/x', { host: 'a.us.example.com' }), ['short', 'short']);
});

test('host specificity outranks path specificity', (t) => {
  const routes: TestRoute[] = [
    { name: 'anyHostExactPath', paths: ['/users/1'] },
    { name: 'hostPrefix', hosts: ['api.test'], paths: ['/*'] },
  ];
  t.deepEqual(bothOrders(routes, '/users/1', { host: 'api.test' }), ['hostPrefix', 'hostPrefix']);
});

test('path: exact beats params beats prefix', (t) => {
  const routes: TestRoute[] = [
    { name: 'prefix', paths: ['/users/*'] },
    { name: 'param', paths: ['/users/:id'] },
    { name: 'exact', paths: ['/users/me'] },
  ];
  t.deepEqual(bothOrders(routes, '/users/me'), ['exact', 'exact']);
  t.deepEqual(bothOrders(routes, '/users/42'), ['param', 'param']);
  t.deepEqual(bothOrders(routes, '/users/42/posts'), ['prefix', 'prefix']);
});

test('path: among params, more literal segments win', (t) => {
  const routes: TestRoute[] = [
    { name: 'one', paths: ['/a/:x/:y'] },
    { name: 'two', paths: ['/a/:x/c'] },
    { name: 'zero', paths: ['/:w/:x/:y'] },
  ];
  t.deepEqual(bothOrders(routes, '/a/b/c'), ['two', 'two']);
  t.deepEqual(bothOrders(routes, '/a/b/d'), ['one', 'one']);
  t.deepEqual(bothOrders(routes, '/z/b/d'), ['zero', 'zero']);
});

test('path: among prefixes, the longer prefix wins, then the more literal one', (t) => {
  const routes: TestRoute[] = [
    { name: 'root', paths: ['/*'] },
    { name: 'a', paths: ['/a/*'] },
    { name: 'ab', paths: ['/a/b/*'] },
    { name: 'aParam', paths: ['/a/:x/*'] },
  ];
  t.deepEqual(bothOrders(routes, '/a/b/c'), ['ab', 'ab']);
  t.deepEqual(bothOrders(routes, '/a/z/c'), ['aParam', 'aParam']);
  t.deepEqual(bothOrders(routes, '/a/z'), ['a', 'a']);
  t.deepEqual(bothOrders(routes, '/b'), ['root', 'root']);
});

test('routes with methods beat routes without', (t) => {
  const routes: TestRoute[] = [
    { name: 'any', paths: ['/x'] },
    { name: 'get', paths: ['/x'], methods: ['GET', 'POST'] },
  ];
  t.deepEqual(bothOrders(routes, '/x'), ['get', 'get']);
  t.deepEqual(bothOrders(routes, '/x', { method: 'PUT' }), ['any', 'any']);
});

test('more header conditions beat fewer', (t) => {
  const routes: TestRoute[] = [
    { name: 'h0', paths: ['/x'] },
    { name: 'h1', paths: ['/x'], headers: { a: '1' } },
    { name: 'h2', paths: ['/x'], headers: { a: '1', b: '2' } },
  ];
  t.deepEqual(bothOrders(routes, '/x', { headers: { a: '1', b: '2' } }), ['h2', 'h2']);
  t.deepEqual(bothOrders(routes, '/x', { headers: { a: '1' } }), ['h1', 'h1']);
  t.deepEqual(bothOrders(routes, '/x'), ['h0', 'h0']);
});

test('method condition outranks header conditions', (t) => {
  const routes: TestRoute[] = [
    { name: 'headers', paths: ['/x'], headers: { a: '1' } },
    { name: 'method', paths: ['/x'], methods: ['GET'] },
  ];
  t.deepEqual(bothOrders(routes, '/x', { headers: { a: '1' } }), ['method', 'method']);
});

test('full ties resolve by route name', (t) => {
  const routes: TestRoute[] = [{ name: 'b', paths: ['/x'] }, { name: 'a', paths: ['/x'] }, { name: 'B', paths: ['/x'] }];
  t.deepEqual(bothOrders(routes, '/x'), ['B', 'B'], 'code-unit order: upper case first');
});

test('priority overrides every specificity rule', (t) => {
  const routes: TestRoute[] = [
    { name: 'specific', hosts: ['api.test'], paths: ['/users/me'], methods: ['GET'], headers: { a: '1' } },
    { name: 'catchAll', paths: ['/*'], priority: 1 },
  ];
  t.deepEqual(bothOrders(routes, '/users/me', { host: 'api.test', headers: { a: '1' } }), ['catchAll', 'catchAll']);
});

test('negative priority ranks below the default', (t) => {
  const routes: TestRoute[] = [
    { name: 'fallback', paths: ['/users/me'], priority: -5 },
    { name: 'normal', paths: ['/*'] },
  ];
  t.deepEqual(bothOrders(routes, '/users/me'), ['normal', 'normal']);
});

test('a priority winner rejected by method falls through in rank order', (t) => {
  const routes: TestRoute[] = [
    { name: 'top', paths: ['/*'], priority: 10, methods: ['POST'] },
    { name: 'mid', paths: ['/a/*'], priority: 5, headers: { x: 'y' } },
    { name: 'exact', paths: ['/a/b'] },
    { name: 'param', paths: ['/a/:b'] },
  ];
  t.deepEqual(bothOrders(routes, '/a/b', { method: 'POST' }), ['top', 'top']);
  t.deepEqual(bothOrders(routes, '/a/b', { headers: { x: 'y' } }), ['mid', 'mid']);
  t.deepEqual(bothOrders(routes, '/a/b'), ['exact', 'exact']);
  t.deepEqual(bothOrders(routes, '/a/c'), ['param', 'param']);
});

test("each of a route's paths is ranked on its own", (t) => {
  const routes: TestRoute[] = [
    { name: 'multi', paths: ['/*', '/docs/intro'] },
    { name: 'docs', paths: ['/docs/:page'] },
  ];
  t.deepEqual(bothOrders(routes, '/docs/intro'), ['multi', 'multi']);
  t.deepEqual(bothOrders(routes, '/docs/other'), ['docs', 'docs']);
});
