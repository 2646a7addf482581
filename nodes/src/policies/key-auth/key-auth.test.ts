import test from 'ava';
import { createHash } from 'node:crypto';
import { keyAuth } from './index.ts';
import { removeQueryParam } from './query.ts';
import { fakeCtx, make, run, accepts } from '../auth-common/testkit.ts';
import type { LocalReply } from '../../request/policy.ts';

const digest = (k: string): string => `sha256:${createHash('sha256').update(k, 'utf8').digest('hex')}`;
const consumers = {
  alice: { groups: ['premium'], keys: [digest('alice-key'), digest('alice-2')] },
  bob: { keys: [digest('bob-key')] },
  jurgen: { keys: [digest('schlüssel')] },
};
const config = { consumers };

test('a valid key in the default header identifies the consumer and is not forwarded', async (t) => {
  const h = make(keyAuth, {}, config);
  const ctx = fakeCtx({ headers: { 'x-api-key': 'alice-2' } });
  t.is(await run(h, ctx), undefined);
  t.is(ctx.consumer?.name, 'alice');
  t.deepEqual(ctx.consumer?.groups, ['premium']);
  t.is(ctx.consumer?.method, 'key-auth');
  t.true(ctx.dropHeaders?.has('x-api-key'));
  t.is(ctx.upstreamHeaders?.['x-consumer-name'], 'alice');
  t.is(ctx.upstreamHeaders?.['x-consumer-groups'], 'premium');
});

test('the handler is synchronous (no promise on the hot path)', (t) => {
  const h = make(keyAuth, {}, config);
  t.is(h.request!(fakeCtx({ headers: { 'x-api-key': 'bob-key' } })), undefined);
});

test('a wrong or missing key: 401 with an ApiKey challenge, different details', async (t) => {
  const h = make(keyAuth, { realm: 'internal' }, config);
  const wrong = (await run(h, fakeCtx({ headers: { 'x-api-key': 'nope' } }))) as LocalReply;
  t.is(wrong.code, 'GW_UNAUTHORIZED');
  t.deepEqual(wrong.headers, { 'www-authenticate': 'ApiKey realm="internal"' });
  const none = (await run(h, fakeCtx())) as LocalReply;
  t.is(none.code, 'GW_UNAUTHORIZED');
  t.not(none.detail, wrong.detail);
});

test('header bytes are hashed as sent (UTF-8 on the wire arrives as latin1 chars)', async (t) => {
  const h = make(keyAuth, {}, config);
  const ctx = fakeCtx({ headers: { 'x-api-key': Buffer.from('schlüssel', 'utf8').toString('latin1') } });
  t.is(await run(h, ctx), undefined);
  t.is(ctx.consumer?.name, 'jurgen');
});

test('key in a query parameter: accepted and removed from the forwarded query, other pairs byte for byte', async (t) => {
  const h = make(keyAuth, { query: 'api_key' }, config);
  const ctx = fakeCtx({ query: 'a=1&api_key=bob-key&b=%2F+x' });
  t.is(await run(h, ctx), undefined);
  t.is(ctx.consumer?.name, 'bob');
  t.is(ctx.rawQuery, 'a=1&b=%2F+x');
});

test('a query key spelled with percent-encoding is still removed', async (t) => {
  const h = make(keyAuth, { query: 'api_key' }, config);
  const ctx = fakeCtx({ query: 'api%5Fkey=bob-key' });
  t.is(await run(h, ctx), undefined);
  t.is(ctx.rawQuery, '');
});

test('a repeated query key is ambiguous (parameter pollution): 401, and both are removed', async (t) => {
  const h = make(keyAuth, { query: 'api_key' }, config);
  const ctx = fakeCtx({ query: 'api_key=bob-key&api_key=alice-key' });
  t.is(((await run(h, ctx)) as LocalReply).code, 'GW_UNAUTHORIZED');
  t.is(ctx.rawQuery, '');
});

test('header wins over query; both are hidden', async (t) => {
  const h = make(keyAuth, { query: 'k' }, config);
  const ctx = fakeCtx({ headers: { 'x-api-key': 'alice-key' }, query: 'k=bob-key&z=1' });
  t.is(await run(h, ctx), undefined);
  t.is(ctx.consumer?.name, 'alice');
  t.is(ctx.rawQuery, 'z=1');
  t.true(ctx.dropHeaders?.has('x-api-key'));
});

test('hideCredentials: false forwards the key', async (t) => {
  const h = make(keyAuth, { hideCredentials: false, query: 'k' }, config);
  const ctx = fakeCtx({ headers: { 'x-api-key': 'alice-key' }, query: 'k=alice-key' });
  t.is(await run(h, ctx), undefined);
  t.is(ctx.dropHeaders, undefined);
  t.is(ctx.rawQuery, 'k=alice-key');
});

test('a wrong key is hidden from the upstream too', async (t) => {
  const h = make(keyAuth, { header: 'X-Key' }, config);
  const ctx = fakeCtx({ headers: { 'x-key': 'wrong' } });
  await run(h, ctx);
  t.true(ctx.dropHeaders?.has('x-key'));
});

test('anonymous: used without a credential, never with a wrong one', async (t) => {
  const h = make(keyAuth, { anonymous: 'guest' }, { consumers: { ...consumers, guest: { groups: ['public'] } } });
  const ctx = fakeCtx();
  t.is(await run(h, ctx), undefined);
  t.deepEqual(ctx.consumer, { name: 'guest', groups: ['public'], method: 'anonymous' });
  t.is(ctx.upstreamHeaders?.['x-consumer-anonymous'], 'true');
  const bad = fakeCtx({ headers: { 'x-api-key': 'wrong' } });
  t.is(((await run(h, bad)) as LocalReply).code, 'GW_UNAUTHORIZED');
  t.is(bad.consumer, undefined);
  const empty = fakeCtx({ headers: { 'x-api-key': '' } });
  t.is(((await run(h, empty)) as LocalReply).code, 'GW_UNAUTHORIZED', 'an empty key is a presented (wrong) key');
});

test('config errors: no way to present a key (one key on two consumers: validation/validate.test.ts)', (t) => {
  const check = (c: object) => keyAuth.check!(c, { routeName: 'r', doc: config, path: 'routes.r.policies.key-auth' });
  t.deepEqual(check({ header: null }), [{ path: 'routes.r.policies.key-auth.header', message: 'is null and no query is set, so no key could ever be presented' }]);
  t.deepEqual(check({ header: null, query: 'k' }), []);
});

test('schema: enforce accepted, unknown fields and bad names refused', (t) => {
  t.true(accepts(keyAuth, { enforce: false, header: 'x-key', query: 'api_key', hideCredentials: true, anonymous: 'guest', realm: 'r' }));
  t.false(accepts(keyAuth, { headr: 'x' }));
  t.false(accepts(keyAuth, { header: 'bad header' }));
  t.false(accepts(keyAuth, { query: 'a&b' }));
  t.false(accepts(keyAuth, { realm: 'a"b' }));
});

test('removeQueryParam keeps order and bytes of the others', (t) => {
  t.is(removeQueryParam('a=1&k=2&b=3&k&c', 'k'), 'a=1&b=3&c');
  t.is(removeQueryParam('k=1', 'k'), '');
  t.is(removeQueryParam('kk=1&x=%zz', 'k'), 'kk=1&x=%zz');
  t.is(removeQueryParam('%6B=1&+k=2', 'k'), '+k=2', "'+k' decodes to ' k', another name");
});
