import test from 'ava';
import { headerValue, listValue, setIdentity } from './identity.ts';
import { anonymousFallback, markRejected, wasRejected } from './anonymous.ts';
import { fakeCtx, deps } from './testkit.ts';

test('headerValue keeps plain printable ASCII and percent-encodes the rest unambiguously', (t) => {
  t.is(headerValue('alice'), 'alice');
  t.is(headerValue('read write'), 'read write');
  t.is(headerValue('a\r\nx-consumer-name: admin'), 'a%0D%0Ax-consumer-name%3A%20admin');
  t.is(headerValue('100%'), '100%25', "'%' is encoded so a literal %0A can't pose as a newline");
  t.is(headerValue('jürgen'), 'j%C3%BCrgen');
  t.is(headerValue(' padded '), '%20padded%20', 'leading/trailing space would be trimmed by parsers');
  t.is(headerValue('\ud800x'), '%EF%BF%BDx', 'a lone surrogate does not throw');
  t.is(headerValue(''), '');
});

test('setIdentity sets every identity header and removes stale ones', (t) => {
  const ctx = fakeCtx();
  setIdentity(ctx, { name: 'alice', groups: ['a', 'b'], method: 'jwt-auth', subject: 'u-1', scopes: ['read', 'write'] });
  t.deepEqual(ctx.upstreamHeaders, { 'x-consumer-name': 'alice', 'x-consumer-groups': 'a,b', 'x-authenticated-subject': 'u-1', 'x-authenticated-scopes': 'read write' });
  setIdentity(ctx, { name: 'guest', groups: [], method: 'anonymous' });
  t.deepEqual(ctx.upstreamHeaders, { 'x-consumer-name': 'guest', 'x-consumer-anonymous': 'true' });
  t.is(ctx.consumer?.name, 'guest');
});

const route = (policies: Record<string, unknown>) => ({ consumers: { guest: { groups: ['public'] } }, routes: { r: { match: { paths: ['/'] }, policies } } });

test('anonymous fallback belongs to the last enforcing authentication policy of the route', (t) => {
  const cfg = route({ 'jwt-auth': { anonymous: 'guest' }, 'key-auth': {}, 'basic-auth': { enforce: false } });
  t.is(anonymousFallback('jwt-auth', { anonymous: 'guest' }, deps(cfg)), undefined, 'jwt runs first: it defers');
  const id = anonymousFallback('key-auth', {}, deps(cfg));
  t.deepEqual(id, { name: 'guest', groups: ['public'], method: 'anonymous' });
  t.true(Object.isFrozen(id));
});

test('a shadow policy decides alone; a policy outside any route decides alone', (t) => {
  const cfg = route({ 'jwt-auth': {}, 'key-auth': { anonymous: 'guest', enforce: false } });
  t.is(anonymousFallback('key-auth', { anonymous: 'guest', enforce: false }, deps(cfg))?.name, 'guest');
  t.is(anonymousFallback('basic-auth', { anonymous: 'nobody' }, deps({}))?.name, 'nobody');
  t.deepEqual(anonymousFallback('basic-auth', { anonymous: 'nobody' }, deps({}))?.groups, [], 'no such consumer: no groups');
});

test('different anonymous consumers on one route are a config error', (t) => {
  const cfg = route({ 'jwt-auth': { anonymous: 'a' }, 'key-auth': { anonymous: 'b' } });
  t.throws(() => anonymousFallback('key-auth', { anonymous: 'b' }, deps(cfg)), { message: /different anonymous consumers/ });
});

test('markRejected is per request', (t) => {
  const a = fakeCtx();
  const b = fakeCtx();
  markRejected(a);
  t.true(wasRejected(a));
  t.false(wasRejected(b));
});

test('list headers: an item containing the separator stays one item (encoded), the others are as is', (t) => {
  t.is(listValue(['admins,root', 'users'], ','), 'admins%2Croot,users');
  t.is(listValue(['read write', 'admin'], ' '), 'read%20write admin');
  t.is(listValue(['a', 'b c'], ','), 'a,b c', 'a space is fine inside a comma list');
  t.is(listValue(['x\r\nX-Consumer-Name: root'], ','), 'x%0D%0AX-Consumer-Name%3A%20root');
  t.is(listValue(['50%'], ','), '50%25', "'%' is encoded so the spelling is unambiguous");
});
