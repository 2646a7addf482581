import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { jwtAuth } from './index.ts';
import { forge, claims, rsaPair, ecPair, edPair, b64u, now } from './testkit.ts';
import { fakeCtx, make, run, accepts } from '../auth-common/testkit.ts';
import type { LocalReply } from '../../request/policy.ts';

const rsa = rsaPair();
const rsa2 = rsaPair();
const ec = ecPair();
const ed = edPair();
const SECRET = 'x'.repeat(32);
const consumers = { alice: { groups: ['staff'], jwtSubjects: ['auth0|123'] }, bob: {} };
const base = { algorithms: ['RS256'], keys: [rsa.publicPem] };
const bearer = (tok: string) => ({ headers: { authorization: `Bearer ${tok}` } });
const rs = (payload: Record<string, unknown>, header: Record<string, unknown> = {}) => forge({ alg: 'RS256', typ: 'JWT', ...header }, payload, rsa.privateKey);

async function code(cfg: unknown, token: string): Promise<LocalReply | undefined> {
  return (await run(make(jwtAuth, cfg, { consumers }), fakeCtx(bearer(token)))) as LocalReply | undefined;
}

test('valid RS256 token with consumerClaim: consumer by jwtSubjects, subject, scopes and claims on ctx', async (t) => {
  const h = make(jwtAuth, { ...base, consumerClaim: 'sub' }, { consumers });
  const ctx = fakeCtx(bearer(rs(claims('auth0|123', { scope: 'users:read users:write', scp: ['extra'] }))));
  t.is(await run(h, ctx), undefined);
  t.is(ctx.consumer?.name, 'alice');
  t.deepEqual(ctx.consumer?.groups, ['staff']);
  t.is(ctx.consumer?.subject, 'auth0|123');
  t.deepEqual(ctx.consumer?.scopes, ['users:read', 'users:write', 'extra']);
  t.is(ctx.consumer?.claims?.sub, 'auth0|123');
  t.is(ctx.upstreamHeaders?.['x-consumer-name'], 'alice');
  t.is(ctx.upstreamHeaders?.['x-consumer-groups'], 'staff');
  t.is(ctx.upstreamHeaders?.['x-authenticated-subject'], 'auth0|123');
  t.is(ctx.upstreamHeaders?.['x-authenticated-scopes'], 'users:read users:write extra');
  t.is(ctx.dropHeaders, undefined, 'the token is forwarded by default');
});

test('without consumerClaim no token is a consumer: a sub equal to a consumer name or subject is only a subject', async (t) => {
  const h = make(jwtAuth, base, { consumers });
  for (const sub of ['alice', 'bob', 'auth0|123']) {
    const ctx = fakeCtx(bearer(rs(claims(sub, { groups: ['staff'] }))));
    t.is(await run(h, ctx), undefined, sub);
    t.is(ctx.consumer?.name, `jwt:${sub}`);
    t.true(ctx.consumer?.unmapped);
    t.deepEqual(ctx.consumer?.groups, [], 'no configured groups, and no groupsClaim');
    t.is(ctx.upstreamHeaders?.['x-consumer-name'], undefined);
    t.is(ctx.upstreamHeaders?.['x-consumer-groups'], undefined);
    t.is(ctx.upstreamHeaders?.['x-authenticated-subject'], sub);
  }
  const { sub: _sub, ...noSub } = claims('x');
  t.is((await code(base, rs(noSub)))?.code, 'GW_UNAUTHORIZED', 'a token naming no subject identifies nobody');
  const withGroups = make(jwtAuth, { ...base, groupsClaim: 'roles' }, { consumers });
  const ctx = fakeCtx(bearer(rs(claims('bob', { roles: 'a b' }))));
  await run(withGroups, ctx);
  t.deepEqual(ctx.consumer?.groups, ['a', 'b'], 'groupsClaim is the only source of groups');
  t.is(ctx.upstreamHeaders?.['x-consumer-groups'], 'a,b');
});

test('with consumerClaim, names never map: unknown subject 401 unless allowUnknownSubjects (then subject only)', async (t) => {
  const mapped = { ...base, consumerClaim: 'sub' };
  t.is((await code(mapped, rs(claims('bob'))))?.code, 'GW_UNAUTHORIZED', 'bob is a consumer name, not a subject');
  t.is((await code(mapped, rs(claims('alice'))))?.code, 'GW_UNAUTHORIZED');
  t.is((await code(mapped, rs(claims('mallory'))))?.code, 'GW_UNAUTHORIZED');
  const h = make(jwtAuth, { ...mapped, allowUnknownSubjects: true, groupsClaim: 'roles' }, { consumers });
  const ctx = fakeCtx(bearer(rs(claims('alice', { roles: ['a', 'b', 7] }))));
  t.is(await run(h, ctx), undefined);
  t.is(ctx.consumer?.name, 'jwt:alice');
  t.deepEqual(ctx.consumer?.groups, ['a', 'b']);
  t.is(ctx.upstreamHeaders?.['x-consumer-name'], undefined);
  const known = fakeCtx(bearer(rs(claims('auth0|123', { roles: ['admin'] }))));
  await run(h, known);
  t.is(known.consumer?.name, 'alice');
  t.deepEqual(known.consumer?.groups, ['staff'], 'a configured consumer keeps its configured groups');
});

test('consumerClaim picks another claim; non-string ids refused', async (t) => {
  const cfg = { ...base, consumerClaim: 'client_id' };
  t.is(await code(cfg, rs(claims('x', { client_id: 'auth0|123' }))), undefined);
  t.is((await code(cfg, rs(claims('auth0|123'))))?.code, 'GW_UNAUTHORIZED');
  t.is((await code(cfg, rs(claims('x', { client_id: ['auth0|123'] }))))?.code, 'GW_UNAUTHORIZED');
});

test('config check: allowUnknownSubjects needs consumerClaim; a subject of two consumers is refused', (t) => {
  const doc = { consumers: { a: { jwtSubjects: ['s1', 'dup'] }, b: { jwtSubjects: ['dup'] } } } as never;
  const ctx = { routeName: 'r', doc, path: 'routes.r.policies.jwt-auth' };
  t.deepEqual(jwtAuth.check!({ ...base, allowUnknownSubjects: true } as never, ctx), [
    { path: 'consumers.b.jwtSubjects.0', message: '"dup" is also a subject of consumer "a"' },
    { path: 'routes.r.policies.jwt-auth.allowUnknownSubjects', message: 'needs consumerClaim: without it no token is mapped to a consumer and every subject is accepted as itself; set consumerClaim (e.g. sub) to map tokens through consumers\' jwtSubjects' },
  ]);
  t.deepEqual(jwtAuth.check!({ ...base, consumerClaim: 'sub', allowUnknownSubjects: true } as never, { ...ctx, doc: { consumers } as never }), []);
  t.throws(() => make(jwtAuth, { ...base, allowUnknownSubjects: true }, { consumers }), { message: /allowUnknownSubjects: needs consumerClaim/ });
  t.throws(() => make(jwtAuth, base, { consumers: { a: { jwtSubjects: ['x'] }, b: { jwtSubjects: ['x'] } } }), { message: /also a subject of consumer "a"/ });
});

test('no token: bare Bearer challenge; bad token: invalid_token; expired says so', async (t) => {
  const none = (await run(make(jwtAuth, base, { consumers }), fakeCtx()))!;
  t.deepEqual((none as LocalReply).headers, { 'www-authenticate': 'Bearer realm="gatehouse"' });
  const bad = (await code(base, 'a.b.c'))!;
  t.deepEqual(bad.headers, { 'www-authenticate': 'Bearer realm="gatehouse", error="invalid_token", error_description="The access token is invalid"' });
  const exp = (await code(base, rs(claims('bob', { exp: now() - 120 }))))!;
  t.regex(String(exp.headers?.['www-authenticate']), /error="invalid_token", error_description="The access token expired"/);
});

test('exp required; nbf and exp honour clockSkew', async (t) => {
  const { exp: _exp, ...noExp } = claims('bob');
  t.is((await code(base, rs(noExp)))?.code, 'GW_UNAUTHORIZED');
  t.is(await code(base, rs(claims('bob', { exp: now() - 10 }))), undefined, 'within the 30s default skew');
  t.is((await code({ ...base, clockSkew: '0s' }, rs(claims('bob', { exp: now() - 10 }))))?.code, 'GW_UNAUTHORIZED');
  t.is((await code(base, rs(claims('bob', { nbf: now() + 120 }))))?.code, 'GW_UNAUTHORIZED');
  t.is(await code(base, rs(claims('bob', { nbf: now() + 10 }))), undefined);
  t.is((await code(base, rs(claims('bob', { exp: String(now() + 100) }))))?.code, 'GW_UNAUTHORIZED', 'exp must be a number');
});

test('issuer and audience (string or list) are enforced and required', async (t) => {
  const cfg = { ...base, issuer: ['https://idp-a', 'https://idp-b'], audience: 'api' };
  t.is(await code(cfg, rs(claims('bob', { iss: 'https://idp-b', aud: ['other', 'api'] }))), undefined);
  t.is((await code(cfg, rs(claims('bob', { iss: 'https://evil', aud: 'api' }))))?.code, 'GW_UNAUTHORIZED');
  t.is((await code(cfg, rs(claims('bob', { iss: 'https://idp-a', aud: 'apix' }))))?.code, 'GW_UNAUTHORIZED');
  t.is((await code(cfg, rs(claims('bob', { aud: 'api' }))))?.code, 'GW_UNAUTHORIZED', 'missing iss');
});

test('typ and maxAge', async (t) => {
  t.is((await code({ ...base, typ: 'at+jwt' }, rs(claims('bob'))))?.code, 'GW_UNAUTHORIZED');
  t.is(await code({ ...base, typ: 'at+jwt' }, rs(claims('bob'), { typ: 'at+jwt' })), undefined);
  t.is((await code({ ...base, maxAge: '5m' }, rs(claims('bob', { iat: now() - 3600 }))))?.code, 'GW_UNAUTHORIZED');
});

test('pinned algorithms: another alg is refused even with a valid signature', async (t) => {
  const ps = forge({ alg: 'PS256' }, claims('bob'), rsa.privateKey);
  t.is((await code(base, ps))?.code, 'GW_UNAUTHORIZED');
  t.is(await code({ ...base, algorithms: ['RS256', 'PS256'] }, ps), undefined);
});

test('EC, Ed25519 and HMAC keys', async (t) => {
  t.is(await code({ algorithms: ['ES256'], keys: [ec.publicJwk] }, forge({ alg: 'ES256' }, claims('bob'), ec.privateKey)), undefined);
  t.is(await code({ algorithms: ['EdDSA'], keys: [ed.publicPem] }, forge({ alg: 'EdDSA' }, claims('bob'), ed.privateKey)), undefined);
  t.is(await code({ algorithms: ['HS256'], secret: SECRET }, forge({ alg: 'HS256' }, claims('bob'), SECRET)), undefined);
  const b = Buffer.alloc(48, 7);
  t.is(await code({ algorithms: ['HS384'], secret: b.toString('base64'), secretEncoding: 'base64' }, forge({ alg: 'HS384' }, claims('bob'), b)), undefined);
});

test('several static keys: kid selects; without kid each fitting key is tried', async (t) => {
  const cfg = { algorithms: ['RS256'], keys: [{ ...rsa2.publicJwk, kid: 'k2' }, rsa.publicPem] };
  t.is(await code(cfg, rs(claims('bob'))), undefined, 'no kid: tried against both');
  t.is(await code(cfg, forge({ alg: 'RS256', kid: 'k2' }, claims('bob'), rsa2.privateKey)), undefined);
  t.is((await code({ algorithms: ['RS256'], keys: [{ ...rsa2.publicJwk, kid: 'k2' }] }, forge({ alg: 'RS256', kid: 'k1' }, claims('bob'), rsa2.privateKey)))?.code, 'GW_UNAUTHORIZED');
});

test('config refuses: none, HMAC with keys, asymmetric with secret, short secret, private keys, weak RSA, two sources', (t) => {
  t.false(accepts(jwtAuth, { algorithms: ['none'], secret: SECRET }));
  t.false(accepts(jwtAuth, { secret: SECRET }), 'algorithms are required');
  t.false(accepts(jwtAuth, { algorithms: [], secret: SECRET }));
  const bad = (cfg: unknown, re: RegExp) => t.throws(() => make(jwtAuth, cfg, { consumers }), { message: re });
  bad({ algorithms: ['HS256', 'RS256'], keys: [rsa.publicPem] }, /need a secret/);
  bad({ algorithms: ['RS256'], secret: SECRET }, /secret works with HS/);
  bad({ algorithms: ['HS256'], secret: 'short' }, /at least 32 bytes/);
  bad({ algorithms: ['HS512'], secret: SECRET }, /at least 64 bytes/);
  bad({ algorithms: ['RS256'], keys: [rsa.privateKey.export({ type: 'pkcs8', format: 'pem' })] }, /private key/);
  bad({ algorithms: ['RS256'], keys: [rsa.privateKey.export({ format: 'jwk' })] }, /private or symmetric/);
  bad({ algorithms: ['RS256'], keys: [{ kty: 'oct', k: b64u(SECRET) }] }, /private or symmetric/);
  bad({ algorithms: ['ES256'], keys: [rsa.publicPem] }, /can verify none/);
  bad({ algorithms: ['ES384'], keys: [ec.publicPem] }, /can verify none/);
  bad({ algorithms: ['RS256'], keys: ['not a key'] }, /not a PEM/);
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' });
  bad({ algorithms: ['RS256'], keys: [weak] }, /at least 2048 bits/);
  bad({ algorithms: ['RS256'], keys: [rsa.publicPem], jwks: 'https://idp/jwks' }, /exactly one/);
  bad({ algorithms: ['RS256'] }, /exactly one/);
  // A JWKS over plain HTTP can be swapped on the path: only loopback may use it.
  bad({ algorithms: ['RS256'], jwks: 'http://idp.example/jwks' }, /plain http is allowed only to a loopback host/);
  bad({ algorithms: ['RS256'], jwks: 'http://10.0.0.5/jwks' }, /plain http/);
  for (const ok of ['https://idp.example/jwks', 'http://localhost:9/jwks', 'http://[::1]:9/jwks', 'http://127.0.0.2:9/jwks']) t.notThrows(() => make(jwtAuth, { algorithms: ['RS256'], jwks: ok }, { consumers }), ok);
  t.true(accepts(jwtAuth, { enforce: false, algorithms: ['RS256'], jwks: 'http://127.0.0.1:1/jwks', jwksMaxAge: '10m', jwksCooldown: '30s', jwksTimeout: '2s', anonymous: 'guest', realm: 'api', header: 'x-token', cookie: 'session', maxTokenLength: 4096, hideCredentials: true }));
  t.false(accepts(jwtAuth, { algorithms: ['RS256'], jwks: 'ftp://x/jwks' }));
});

test('custom header and cookie sources; hideCredentials removes only the token', async (t) => {
  const tok = rs(claims('bob'));
  const h = make(jwtAuth, { ...base, header: 'X-Token', cookie: 'at', hideCredentials: true }, { consumers });
  const a = fakeCtx({ headers: { 'x-token': tok } });
  t.is(await run(h, a), undefined);
  t.true(a.dropHeaders?.has('x-token'));
  const b = fakeCtx({ headers: { cookie: `theme=dark; at=${tok}; lang=en` } });
  t.is(await run(h, b), undefined);
  t.is(b.upstreamHeaders?.cookie, 'theme=dark; lang=en');
  const dup = fakeCtx({ headers: { cookie: `at=${tok}; at=x.y.z` } });
  t.is(((await run(h, dup)) as LocalReply).code, 'GW_UNAUTHORIZED', 'a cookie named twice is ambiguous');
});

test('Authorization with another scheme is "no token"; anonymous applies then, not on a bad token', async (t) => {
  const h = make(jwtAuth, { ...base, anonymous: 'guest' }, { consumers });
  const basic = fakeCtx({ headers: { authorization: 'Basic YTpi' } });
  t.is(await run(h, basic), undefined);
  t.is(basic.consumer?.name, 'guest');
  const bad = fakeCtx(bearer('e30.e30.'));
  t.is(((await run(h, bad)) as LocalReply).code, 'GW_UNAUTHORIZED');
  t.is(((await run(h, fakeCtx({ headers: { authorization: 'Bearer' } }))) as LocalReply).code, 'GW_UNAUTHORIZED', 'empty Bearer is a bad token');
});

test('structure: non-canonical base64url, duplicate members, oversize, extra segments', async (t) => {
  const good = rs(claims('bob'));
  t.is(await code(base, good), undefined);
  const [h, p, s] = good.split('.') as [string, string, string];
  // 256-byte signature = 342 chars: the last char carries 4 unused bits.
  const last = s[s.length - 1]!;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const twin = alphabet[(alphabet.indexOf(last) & ~15) | ((alphabet.indexOf(last) + 1) & 15)]!;
  t.deepEqual(Buffer.from(s.slice(0, -1) + twin, 'base64url'), Buffer.from(s, 'base64url'), 'same bytes, other spelling');
  t.is((await code(base, `${h}.${p}.${s.slice(0, -1)}${twin}`))?.code, 'GW_UNAUTHORIZED');
  t.is((await code(base, `${h}.${p}.${s}=`))?.code, 'GW_UNAUTHORIZED');
  t.is((await code(base, `${h}.${p}.${s}.`))?.code, 'GW_UNAUTHORIZED');
  t.is((await code(base, rs('{"sub":"bob","sub":"alice","exp":9999999999}' as never)))?.code, 'GW_UNAUTHORIZED');
  const dupHeader = forge('{"alg":"RS256","alg":"RS256"}', claims('bob'), rsa.privateKey);
  t.is((await code(base, dupHeader))?.code, 'GW_UNAUTHORIZED');
  t.is((await code({ ...base, maxTokenLength: 256 }, good))?.code, 'GW_UNAUTHORIZED');
});

test('crit with an unknown extension and b64:false are refused (RFC 7515 §4.1.11, RFC 7797)', async (t) => {
  t.is((await code(base, rs(claims('bob'), { crit: ['exp-ext'], 'exp-ext': 1 })))?.code, 'GW_UNAUTHORIZED');
  t.is((await code(base, rs(claims('bob'), { crit: ['b64'], b64: false })))?.code, 'GW_UNAUTHORIZED');
});
