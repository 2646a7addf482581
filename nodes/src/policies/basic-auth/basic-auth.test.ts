import test from 'ava';
import { basicAuth } from './index.ts';
import { parseBasic } from './parse.ts';
import { hashPassword, parseScrypt, verifyScrypt } from './scrypt.ts';
import { VerifiedCache } from './cache.ts';
import { fakeCtx, make, run, accepts } from '../auth-common/testkit.ts';
import type { LocalReply } from '../../request/policy.ts';
import type { GatewayConfig } from '../../schema/model.ts';

const FAST = { N: 1024, r: 8, p: 1 };
const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
let config: GatewayConfig;

test.before(async () => {
  config = {
    consumers: {
      alice: { groups: ['staff'], passwords: [await hashPassword('old-pass', FAST), await hashPassword('s3cret:with:colons', FAST)] },
      jurgen: { passwords: [await hashPassword('pässwort', FAST)] },
      nopass: { groups: ['x'] },
    },
  };
});

test('hashPassword writes scrypt:N:r:p:salt:hash that verifies, with a fresh salt each time', async (t) => {
  const a = await hashPassword('pw', FAST);
  const b = await hashPassword('pw', FAST);
  t.regex(a, /^scrypt:1024:8:1:[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}$/);
  t.not(a, b);
  t.true(await verifyScrypt(Buffer.from('pw'), parseScrypt(a)));
  t.false(await verifyScrypt(Buffer.from('pW'), parseScrypt(a)));
});

test('parseScrypt bounds parameters at load time', (t) => {
  const salt = b64('0123456789abcdef');
  const hash = b64('0123456789abcdef0123456789abcdef');
  t.notThrows(() => parseScrypt(`scrypt:16384:8:1:${salt}:${hash}`));
  t.throws(() => parseScrypt(`scrypt:1073741824:8:1:${salt}:${hash}`), { message: /power of two/ });
  t.throws(() => parseScrypt(`scrypt:1000:8:1:${salt}:${hash}`), { message: /power of two/ });
  t.throws(() => parseScrypt(`scrypt:16384:99:1:${salt}:${hash}`), { message: /r must be/ });
  t.throws(() => parseScrypt(`scrypt:16384:8:1:${salt}`), { message: /must be scrypt:/ });
  t.throws(() => parseScrypt(`scrypt:16384:8:1:c2FsdA==:${hash}`), { message: /salt/ });
});

test('parseBasic: well-formed, other schemes, and every malformed shape', (t) => {
  t.like(parseBasic(`Basic ${b64('u:p:q')}`), { kind: 'ok', user: 'u' });
  t.is((parseBasic(`bAsIc   ${b64('u:p')}`) as { password: Buffer }).password.toString(), 'p');
  t.is(parseBasic(undefined).kind, 'none');
  t.is(parseBasic('Bearer abc').kind, 'none');
  t.is(parseBasic('Basicx abc').kind, 'none');
  for (const bad of ['Basic', 'Basic ', 'Basic !!!!', `Basic ${b64('nocolon')}`, `Basic ${b64(':nouser')}`, 'Basic YQ', 'Basic YR==', `Basic ${b64('u:p')} extra`,
    `Basic ${b64(Buffer.from([0xff, 0xfe, 0x3a, 0x61]))}`, `Basic ${'A'.repeat(5000)}`]) {
    t.is(parseBasic(bad).kind, 'malformed', bad.slice(0, 40));
  }
});

test('valid password: consumer identified, Authorization not forwarded', async (t) => {
  const h = make(basicAuth, {}, config);
  const ctx = fakeCtx({ headers: { authorization: `Basic ${b64('alice:s3cret:with:colons')}` } });
  t.is(await run(h, ctx), undefined);
  t.deepEqual(ctx.consumer, { name: 'alice', groups: ['staff'], method: 'basic-auth' });
  t.true(ctx.dropHeaders?.has('authorization'));
  t.is(ctx.upstreamHeaders?.['x-consumer-name'], 'alice');
});

test('UTF-8 user-id and password bytes as sent', async (t) => {
  const h = make(basicAuth, {}, config);
  const raw = Buffer.from('jurgen:pässwort', 'utf8');
  t.is(await run(h, fakeCtx({ headers: { authorization: `Basic ${raw.toString('base64')}` } })), undefined);
});

test('wrong password, unknown user, consumer without passwords: 401 Basic challenge', async (t) => {
  const h = make(basicAuth, {}, config);
  for (const cred of ['alice:nope', 'mallory:x', 'nopass:x', 'alice:']) {
    const r = (await run(h, fakeCtx({ headers: { authorization: `Basic ${b64(cred)}` } }))) as LocalReply;
    t.is(r.code, 'GW_UNAUTHORIZED', cred);
    t.deepEqual(r.headers, { 'www-authenticate': 'Basic realm="gatehouse", charset="UTF-8"' });
  }
});

test('malformed Authorization is a 401, never an exception', async (t) => {
  const h = make(basicAuth, {}, config);
  for (const v of ['Basic', 'Basic %%%', 'Basic YQ', `Basic ${b64('\u0000:\u0000')}`]) {
    const r = (await run(h, fakeCtx({ headers: { authorization: v } }))) as LocalReply;
    t.is(r.code, 'GW_UNAUTHORIZED', v);
  }
});

test('a success is cached: the next identical request is answered synchronously', async (t) => {
  const h = make(basicAuth, {}, config);
  const header = { authorization: `Basic ${b64('alice:old-pass')}` };
  const first = h.request!(fakeCtx({ headers: header }));
  t.true(first instanceof Promise);
  t.is(await first, undefined);
  const ctx = fakeCtx({ headers: header });
  t.is(h.request!(ctx), undefined, 'no promise: served from the cache');
  t.is(ctx.consumer?.name, 'alice');
  const wrong = h.request!(fakeCtx({ headers: { authorization: `Basic ${b64('alice:old-pasS')}` } }));
  t.true(wrong instanceof Promise, 'a different password is not a cache hit');
  t.is(((await wrong) as LocalReply).code, 'GW_UNAUTHORIZED');
});

test('cacheTtl 0s: every request verifies scrypt', async (t) => {
  const h = make(basicAuth, { cacheTtl: '0s' }, config);
  const header = { authorization: `Basic ${b64('alice:old-pass')}` };
  t.is(await run(h, fakeCtx({ headers: header })), undefined);
  t.true(h.request!(fakeCtx({ headers: header })) instanceof Promise);
});

test('VerifiedCache expires entries and evicts the oldest when full', (t) => {
  const c = new VerifiedCache(1000, 2);
  const id = { name: 'a', groups: [] };
  c.set('k1', id, 0);
  c.set('k2', id, 0);
  c.set('k3', id, 0);
  t.is(c.size, 2);
  t.is(c.get('k1', 1), undefined);
  t.is(c.get('k3', 999), id);
  t.is(c.get('k3', 1000), undefined);
});

test('anonymous: another scheme or no header → anonymous; a wrong Basic credential → 401', async (t) => {
  const h = make(basicAuth, { anonymous: 'guest' }, config);
  const none = fakeCtx();
  t.is(await run(h, none), undefined);
  t.is(none.consumer?.method, 'anonymous');
  const bearer = fakeCtx({ headers: { authorization: 'Bearer x.y.z' } });
  t.is(await run(h, bearer), undefined);
  t.is(bearer.dropHeaders, undefined, 'another scheme is not ours to hide');
  const wrong = fakeCtx({ headers: { authorization: `Basic ${b64('alice:nope')}` } });
  t.is(((await run(h, wrong)) as LocalReply).code, 'GW_UNAUTHORIZED');
  t.is(wrong.consumer, undefined);
});

test('hideCredentials: false keeps Authorization', async (t) => {
  const h = make(basicAuth, { hideCredentials: false }, config);
  const ctx = fakeCtx({ headers: { authorization: `Basic ${b64('alice:old-pass')}` } });
  t.is(await run(h, ctx), undefined);
  t.is(ctx.dropHeaders, undefined);
});

test('config: a malformed stored hash names the consumer; schema accepts enforce', (t) => {
  t.throws(() => make(basicAuth, {}, { consumers: { x: { passwords: ['scrypt:3:8:1:AAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAA=='] } } }), { message: /consumers\.x\.passwords\[0\]: scrypt N/ });
  t.true(accepts(basicAuth, { enforce: false, cacheTtl: '30s', cacheSize: 10, realm: 'x', anonymous: 'a', hideCredentials: true }));
  t.false(accepts(basicAuth, { cacheTtl: 'soon' }));
});
