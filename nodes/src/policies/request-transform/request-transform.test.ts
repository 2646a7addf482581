import test from 'ava';
import { requestTransform } from './index.ts';
import { compileQuery } from './query.ts';
import { fakeContext, fakeDeps, type FakeRequest } from '../../../../test/helpers/fake-request.ts';
import { compileSchema } from '../../schema/validate.ts';
import { validateConfig } from '../../validation/validate.ts';
import type { PolicyHandlers } from '../../request/policy.ts';
import type { GatewayConfig } from '../../schema/model.ts';

function make(cfg: Record<string, unknown>, config: GatewayConfig = {}): PolicyHandlers {
  const v = compileSchema(requestTransform.schema);
  if (!v(cfg)) throw new Error(JSON.stringify(v.errors));
  return requestTransform.create(cfg as never, fakeDeps({ config }));
}

function run(h: PolicyHandlers, r: FakeRequest) {
  const ctx = fakeContext(r);
  h.request!(ctx);
  return ctx;
}

test('headers.set and headers.remove (the original behaviour)', (t) => {
  const ctx = run(make({ headers: { set: { 'X-Env': 'prod' }, remove: ['X-Debug'] } }), { headers: { 'x-debug': '1', 'x-env': 'dev' } });
  t.deepEqual(ctx.upstreamHeaders, { 'x-env': 'prod' });
  t.true(ctx.dropHeaders?.has('x-debug'));
});

test('headers.add appends to the client value; rename moves a value; order remove, rename, set, add', (t) => {
  const h = make({ headers: { remove: ['x-a'], rename: { 'X-Old': 'X-New', 'X-Absent': 'X-Other' }, set: { 'x-new': 'set-wins' }, add: { 'x-tags': 'gw', 'x-fresh': 'one', 'x-new': 'plus' } } });
  const ctx = run(h, { headers: { 'x-a': 'a', 'x-old': 'v', 'x-tags': 'client' } });
  t.true(ctx.dropHeaders?.has('x-a'));
  t.true(ctx.dropHeaders?.has('x-old'));
  t.deepEqual(ctx.upstreamHeaders, { 'x-new': 'set-wins, plus', 'x-tags': 'client, gw', 'x-fresh': 'one' });
  t.false(ctx.dropHeaders?.has('x-absent') ?? false, 'a rename of an absent header does nothing');
});

/** The policy's semantic check as validation runs it (schema/policy-spec.ts). */
const check = (config: object, doc: object = {}) =>
  requestTransform.check!(config, { routeName: 'r', doc: doc as GatewayConfig, path: 'routes.r.policies.request-transform' }).map((e) => `${e.path}: ${e.message}`);

test('rename into an identity header is refused by validation', (t) => {
  t.deepEqual(check({ headers: { rename: { 'x-user': 'X-Consumer-Id' } } }), ['routes.r.policies.request-transform.headers.rename: may not rename into x-consumer-id (identity headers come from the gateway only)']);
});

test('schema: header names and values are checked (no header injection)', (t) => {
  const v = compileSchema(requestTransform.schema);
  t.false(v({ headers: { set: { 'x-a': 'v\r\nx-b: 1' } } }) as boolean);
  t.false(v({ headers: { add: { 'bad name': 'v' } } }) as boolean);
  t.false(v({ headers: { rename: { 'x-a': 'bad name' } } }) as boolean);
  t.false(v({ path: 'no-slash' }) as boolean);
  t.false(v({ path: '/a?b' }) as boolean);
  const errs = validateConfig({ routes: { r: { match: { paths: ['/'] }, policies: { 'request-transform': { headers: { set: { 'bad name': 'v' } } } } } } });
  t.true(errs.length > 0 && errs[0]!.path.startsWith('routes.r.policies.request-transform.headers.set'), JSON.stringify(errs));
});

test('query: remove and set keep every other parameter byte for byte', (t) => {
  const q = compileQuery({ remove: ['debug', 'a b'], set: { page: '2', 'q&x': 'a b' } })!;
  t.is(q('x=%2F1&debug=1&page=1&page=9&y&a+b=3&z=%E2%82%AC'), 'x=%2F1&y&z=%E2%82%AC&page=2&q%26x=a%20b');
  t.is(q(''), 'page=2&q%26x=a%20b');
  t.is(q('&&debug&'), 'page=2&q%26x=a%20b');
  t.is(q('%zz=1'), '%zz=1&page=2&q%26x=a%20b', 'a malformed name is compared raw and kept');
  t.is(compileQuery({}), undefined);
  const ctx = run(make({ query: { remove: ['token'] } }), { query: 'token=s3cret&id=7' });
  t.is(ctx.rawQuery, 'id=7');
});

test('path: a template over the route\'s params', (t) => {
  const config = { routes: { r: { match: { paths: ['/users/:id/*'] } } } } as GatewayConfig;
  const h = make({ path: '/v2/accounts/:id/files/*' }, config);
  const ctx = fakeContext({ path: '/users/42/a/b' });
  ctx.params = { id: '42', '*': 'a/b' };
  h.request!(ctx);
  t.is(ctx.path, '/v2/accounts/42/files/a/b');
});

test('path: a param the route does not define, or a route that rewrites already, is refused', (t) => {
  t.deepEqual(check({ path: '/v2/:user' }, { routes: { r: { match: { paths: ['/users/:id'] } } } }), ['routes.r.policies.request-transform.path: ":user" is not defined by the route path /users/:id']);
  t.deepEqual(check({ path: '/v2/:id' }, { routes: { r: { match: { paths: ['/users/:id', '/users'] } } } }), ['routes.r.policies.request-transform.path: ":id" is not defined by the route path /users']);
  t.deepEqual(check({ path: '/v2' }, { routes: { r: { match: { paths: ['/users'] }, rewrite: { stripPrefix: '/users' } } } }), ['routes.r.policies.request-transform.path: the route already rewrites its path (rewrite); use one or the other']);
});

