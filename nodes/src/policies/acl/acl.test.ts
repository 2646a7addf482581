import test from 'ava';
import { acl } from './index.ts';
import { claimValues } from './claims.ts';
import { fakeCtx, make, run, accepts } from '../auth-common/testkit.ts';
import type { LocalReply } from '../../request/policy.ts';
import type { ConsumerIdentity } from '../../request/context.ts';

function as(consumer: ConsumerIdentity | undefined) {
  const ctx = fakeCtx();
  ctx.consumer = consumer;
  return ctx;
}
const alice: ConsumerIdentity = { name: 'alice', groups: ['staff', 'premium'], method: 'key-auth' };
const eve: ConsumerIdentity = { name: 'eve', groups: ['staff', 'banned'], method: 'key-auth' };
const jwt = (scopes: string[], claims: Record<string, unknown> = {}): ConsumerIdentity => ({ name: 'j', groups: [], method: 'jwt-auth', scopes, claims });

test('allow: a consumer in one of the groups passes, others get 403', async (t) => {
  const h = make(acl, { allow: ['premium', 'gold'] });
  t.is(await run(h, as(alice)), undefined);
  const r = (await run(h, as(eve))) as LocalReply;
  t.is(r.code, 'GW_FORBIDDEN');
  t.is(r.headers, undefined);
});

test('deny wins over allow', async (t) => {
  const h = make(acl, { allow: ['staff'], deny: ['banned'] });
  t.is(await run(h, as(alice)), undefined);
  t.is(((await run(h, as(eve))) as LocalReply).code, 'GW_FORBIDDEN');
});

test('allow: [] allows nobody; no lists = any consumer', async (t) => {
  t.is(((await run(make(acl, { allow: [] }), as(alice))) as LocalReply).code, 'GW_FORBIDDEN');
  t.is(await run(make(acl, {}), as(alice)), undefined);
});

test('no consumer: 401 (not 403) with the route\'s challenges', async (t) => {
  const config = { routes: { r: { match: { paths: ['/'] }, policies: { 'key-auth': {}, 'jwt-auth': { realm: 'api' }, acl: {} } } } };
  const r = (await run(make(acl, { allow: ['x'] }, config), as(undefined))) as LocalReply;
  t.is(r.code, 'GW_UNAUTHORIZED');
  t.is(r.headers?.['www-authenticate'], 'Bearer realm="api", ApiKey realm="gatehouse"');
  const bare = (await run(make(acl, {}), as(undefined))) as LocalReply;
  t.is(bare.headers?.['www-authenticate'], 'Bearer realm="gatehouse"');
});

test('requireClaims: every value must be present; scope from scope/scp', async (t) => {
  const h = make(acl, { requireClaims: { scope: ['users:read', 'users:write'] } });
  t.is(await run(h, as(jwt(['users:read', 'users:write', 'x']))), undefined);
  const r = (await run(h, as(jwt(['users:read'])))) as LocalReply;
  t.is(r.code, 'GW_FORBIDDEN');
  t.is(r.headers?.['www-authenticate'], 'Bearer realm="gatehouse", error="insufficient_scope", scope="users:read users:write"');
  const k = (await run(h, as(alice))) as LocalReply;
  t.is(k.code, 'GW_FORBIDDEN');
  t.is(k.headers, undefined, 'insufficient_scope is only for bearer-token consumers');
});

test('requireClaims on other claims: strings, arrays, nested paths', async (t) => {
  const h = make(acl, { requireClaims: { 'realm_access.roles': ['admin'], tenant: ['acme'], email_verified: ['true'] } });
  t.is(await run(h, as(jwt([], { realm_access: { roles: ['admin', 'user'] }, tenant: 'acme', email_verified: true }))), undefined);
  t.is(((await run(h, as(jwt([], { realm_access: { roles: 'user' }, tenant: 'acme', email_verified: true })))) as LocalReply).code, 'GW_FORBIDDEN');
  t.is(((await run(h, as(jwt([], { realm_access: { roles: ['admin'] }, tenant: 'acme corp', email_verified: true })))) as LocalReply).code, 'GW_FORBIDDEN', 'a non-scope string is one value');
});

test('claimValues does not walk into prototypes', (t) => {
  t.is(claimValues(jwt([], {}), '__proto__.toString').size, 0);
  t.is(claimValues(jwt([], { a: { b: null } }), 'a.b').size, 0);
  t.deepEqual([...claimValues(jwt([], { 'a.b': 'x', a: { b: 'y' } }), 'a.b')], ['x']);
});

test('schema', (t) => {
  t.true(accepts(acl, { enforce: false, allow: ['a'], deny: ['b'], requireClaims: { scope: ['x'] } }));
  t.false(accepts(acl, { allow: 'a' }));
  t.false(accepts(acl, { requireClaims: { scope: [] } }));
  t.false(accepts(acl, { alow: ['a'] }));
});
