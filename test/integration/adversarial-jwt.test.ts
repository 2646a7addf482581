/**
 * Adversarial suite, part 3: forged and malformed JWTs through the whole gateway.
 * Classes: alg "none" (CVE-2015-9235), HMAC/RSA key confusion (CVE-2016-10555), embedded
 * keys jwk/jku/x5u/x5c (CVE-2018-0114, RFC 8725 §3.10), kid injection (RFC 8725 §3.10),
 * ECDSA "psychic signatures" r=s=0 (CVE-2022-21449), claim checks (RFC 8725 §3.8-3.9),
 * malleable encodings and duplicate members (RFC 7519 §4, RFC 8725 §3.2).
 * Every refusal: 401 GW_UNAUTHORIZED with a Bearer invalid_token challenge, nothing
 * forwarded, no key source other than the configured one contacted.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { send, assertProblem } from '../helpers/adversary.ts';
import { forge, claims, rsaPair, ecPair, b64u, now, signature } from '../../nodes/src/policies/jwt-auth/testkit.ts';

const rsa = rsaPair();
const ec = ecPair();
const idpKey = rsaPair();
const attacker = rsaPair();
const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
const ISS = 'https://idp.example';
const AUD = 'api';

let up: TestUpstream;
let idp: TestUpstream;
let evil: TestUpstream;
let gw: TestGateway;

const ok = (extra: Record<string, unknown> = {}) => claims('root', { iss: ISS, aud: AUD, ...extra });

test.before(async () => {
  up = await startUpstream();
  idp = await startUpstream({ respond: (_r, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ keys: [{ ...idpKey.publicJwk, kid: 'idp-1' }] })); } });
  evil = await startUpstream({ respond: (_r, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ keys: [{ ...attacker.publicJwk, kid: 'evil' }] })); } });
  const common = { issuer: ISS, audience: AUD };
  gw = await startGateway({
    upstreams: { a: { targets: [{ url: up.url }] } },
    consumers: { root: { groups: ['admins'], keys: [`sha256:${createHash('sha256').update('k').digest('hex')}`] } },
    routes: {
      rs: { match: { paths: ['/rs'] }, upstream: 'a', policies: { 'jwt-auth': { algorithms: ['RS256'], keys: [rsa.publicPem], ...common } } },
      es: { match: { paths: ['/es'] }, upstream: 'a', policies: { 'jwt-auth': { algorithms: ['ES256'], keys: [ec.publicJwk], ...common } } },
      hs: { match: { paths: ['/hs'] }, upstream: 'a', policies: { 'jwt-auth': { algorithms: ['HS256'], secret: SECRET, ...common } } },
      jwks: { match: { paths: ['/jwks'] }, upstream: 'a', policies: { 'jwt-auth': { algorithms: ['RS256'], jwks: `${idp.url}/jwks.json`, ...common } } },
      open: { match: { paths: ['/open'] }, upstream: 'a', policies: { 'jwt-auth': { algorithms: ['RS256'], keys: [rsa.publicPem], consumerClaim: 'sub', allowUnknownSubjects: true, groupsClaim: 'groups', ...common } } },
      mapped: { match: { paths: ['/mapped'] }, upstream: 'a', policies: { 'jwt-auth': { algorithms: ['RS256'], keys: [rsa.publicPem], consumerClaim: 'sub', ...common } } },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); await idp?.close(); await evil?.close(); });
test.beforeEach(() => { up.received.length = 0; });

const call = async (path: string, token: string) => (await send(gw.port, [`GET ${path} HTTP/1.1`, 'Host: gw.test', 'Connection: close', `Authorization: Bearer ${token}`]))[0]!;

async function refused(t: import('ava').ExecutionContext, path: string, token: string): Promise<void> {
  const r = await call(path, token);
  assertProblem(t, r, 401, 'GW_UNAUTHORIZED');
  t.regex(String(r.headers['www-authenticate']), /^Bearer realm="gatehouse", error="invalid_token"/);
  t.is(up.received.length, 0, 'nothing forwarded');
}

test.serial('baseline: valid tokens pass on every route', async (t) => {
  for (const [path, tok] of [
    ['/rs', forge({ alg: 'RS256' }, ok(), rsa.privateKey)],
    ['/es', forge({ alg: 'ES256' }, ok(), ec.privateKey)],
    ['/hs', forge({ alg: 'HS256' }, ok(), SECRET)],
    ['/jwks', forge({ alg: 'RS256', kid: 'idp-1' }, ok(), idpKey.privateKey)],
  ] as const) t.is((await call(path, tok)).status, 200, path);
  t.is(up.received.length, 4);
  t.is(up.received[0]!.headers['x-authenticated-subject'], 'root');
});

test.serial('a token cannot become a configured consumer by choosing its sub (no consumerClaim, or one no consumer lists)', async (t) => {
  // `root` is a key-auth consumer in group admins; its name as a token's sub is just a subject.
  for (const path of ['/rs', '/open']) {
    const r = await call(path, forge({ alg: 'RS256' }, ok(), rsa.privateKey));
    t.is(r.status, 200, path);
    const h = up.received.at(-1)!.headers;
    t.is(h['x-consumer-name'], undefined, path);
    t.is(h['x-consumer-groups'], undefined, `${path}: root's groups are not the token's`);
    t.is(h['x-authenticated-subject'], 'root');
  }
  up.received.length = 0;
  await refused(t, '/mapped', forge({ alg: 'RS256' }, ok(), rsa.privateKey));
});

for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
  test.serial(`alg ${alg}: unsigned, or with a stolen signature`, async (t) => {
    await refused(t, '/rs', forge({ alg }, ok()));
    const stolen = forge({ alg: 'RS256' }, ok(), rsa.privateKey).split('.')[2]!;
    await refused(t, '/rs', `${forge({ alg }, ok())}${stolen}`);
  });
}

test.serial('alg confusion: HS256 signed with the RSA public key as the secret', async (t) => {
  await refused(t, '/rs', forge({ alg: 'HS256' }, ok(), rsa.publicPem));
  await refused(t, '/rs', forge({ alg: 'HS256' }, ok(), rsa.publicKey.export({ type: 'spki', format: 'der' })));
  await refused(t, '/rs', forge({ alg: 'HS256' }, ok(), JSON.stringify(rsa.publicJwk)));
  await refused(t, '/jwks', forge({ alg: 'HS256', kid: 'idp-1' }, ok(), JSON.stringify(idpKey.publicJwk)));
  await refused(t, '/es', forge({ alg: 'HS256' }, ok(), ec.publicPem));
});

test.serial('alg swap within the pinned family is refused too (PS256 / RS512 on an RS256 route; ES256 key on HS route)', async (t) => {
  await refused(t, '/rs', forge({ alg: 'PS256' }, ok(), rsa.privateKey));
  await refused(t, '/rs', forge({ alg: 'RS512' }, ok(), rsa.privateKey));
  await refused(t, '/hs', forge({ alg: 'ES256' }, ok(), ec.privateKey));
  const h = b64u(JSON.stringify({ alg: 'RS256\u0000' }));
  const p = b64u(JSON.stringify(ok()));
  await refused(t, '/rs', `${h}.${p}.${b64u(signature('RS256', rsa.privateKey, `${h}.${p}`))}`);
});

test.serial('embedded keys are never used: jwk, jku, x5u, x5c', async (t) => {
  const pub = { ...attacker.publicJwk, kid: 'evil' };
  await refused(t, '/rs', forge({ alg: 'RS256', jwk: pub }, ok(), attacker.privateKey));
  await refused(t, '/rs', forge({ alg: 'RS256', kid: 'evil', jku: `${evil.url}/jwks.json` }, ok(), attacker.privateKey));
  await refused(t, '/jwks', forge({ alg: 'RS256', kid: 'evil', jku: `${evil.url}/jwks.json` }, ok(), attacker.privateKey));
  await refused(t, '/rs', forge({ alg: 'RS256', x5u: `${evil.url}/cert.pem` }, ok(), attacker.privateKey));
  await refused(t, '/jwks', forge({ alg: 'RS256', kid: 'idp-1', x5c: [attacker.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')] }, ok(), attacker.privateKey));
  t.is(evil.received.length, 0, 'the attacker\'s key server was never contacted');
});

test.serial('kid injection: path traversal, SQL, and an empty-key HMAC', async (t) => {
  for (const kid of ['../../../../dev/null', '/dev/null', "' OR 1=1 --", 'idp-1\u0000', '../../jwks.json', 'idp-1/../evil']) {
    await refused(t, '/hs', forge({ alg: 'HS256', kid }, ok(), ''));
    await refused(t, '/jwks', forge({ alg: 'RS256', kid }, ok(), attacker.privateKey));
  }
  t.is(evil.received.length, 0);
});

test.serial('claims: exp missing, expired, nbf in the future, wrong or missing iss/aud, wrong types', async (t) => {
  const sign = (c: Record<string, unknown>) => forge({ alg: 'RS256' }, c, rsa.privateKey);
  const { exp: _e, ...noExp } = ok();
  const { iss: _i, ...noIss } = ok();
  const { aud: _a, ...noAud } = ok();
  for (const c of [noExp, noIss, noAud, ok({ exp: now() - 300 }), ok({ nbf: now() + 300 }), ok({ iss: 'https://evil.example' }), ok({ iss: `${ISS}/` }),
    ok({ aud: 'api2' }), ok({ aud: ['other'] }), ok({ exp: `${now() + 3600}` }), ok({ exp: null }), ok({ nbf: 'soon' }), ok({ iss: [ISS] })]) {
    await refused(t, '/rs', sign(c));
  }
  const expired = await call('/rs', sign(ok({ exp: now() - 300 })));
  t.regex(String(expired.headers['www-authenticate']), /The access token expired/);
});

test.serial('exp beyond the float range (1e999 parses as Infinity) is not "never expires"', async (t) => {
  const h = b64u(JSON.stringify({ alg: 'RS256' }));
  const p = b64u(`{"sub":"root","iss":"${ISS}","aud":"${AUD}","exp":1e999}`);
  await refused(t, '/rs', `${h}.${p}.${b64u(signature('RS256', rsa.privateKey, `${h}.${p}`))}`);
});

test.serial('signature stripped, truncated, garbage segments, JWE, wrong segment counts', async (t) => {
  const good = forge({ alg: 'RS256' }, ok(), rsa.privateKey);
  const [h, p, s] = good.split('.') as [string, string, string];
  for (const tok of [`${h}.${p}.`, `${h}.${p}`, `${h}.${p}.${s.slice(0, -10)}`, `${h}.${p.slice(0, -4)}.${s}`, `${h}..${s}`, `.${p}.${s}`, '..', 'a.b.c', 'a',
    `${good}.x`, `${h}.${p}.${s}.${s}.${s}`, `${b64u('{"alg":"RSA-OAEP","enc":"A256GCM"}')}.a.b.c.d`, `${b64u('not json')}.${p}.${s}`, `${b64u('[]')}.${p}.${s}`,
    `${h}.${b64u('null')}.${s}`, `${h}.${b64u('"root"')}.${s}`, `${h}.${p}.${s.replace(/[A-Za-z]/, '!')}`, `${h}.${p}.${Buffer.from(s, 'base64url').toString('base64')}`]) {
    await refused(t, '/rs', tok);
  }
});

test.serial('ECDSA psychic signature (r = s = 0, and r = s = n) is refused', async (t) => {
  const h = b64u(JSON.stringify({ alg: 'ES256' }));
  const p = b64u(JSON.stringify(ok()));
  const n = Buffer.from('FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551', 'hex');
  await refused(t, '/es', `${h}.${p}.${b64u(Buffer.alloc(64))}`);
  await refused(t, '/es', `${h}.${p}.${b64u(Buffer.concat([n, n]))}`);
  await refused(t, '/es', `${h}.${p}.${b64u(Buffer.from('MAYCAQACAQA=', 'base64'))}`); // DER SEQUENCE{0,0}
});

test.serial('non-canonical base64url: same bytes, other spelling, refused', async (t) => {
  const good = forge({ alg: 'RS256' }, ok(), rsa.privateKey);
  const [h, p, s] = good.split('.') as [string, string, string];
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const twin = s.slice(0, -1) + A[A.indexOf(s[s.length - 1]!) ^ 1]!;
  t.true(Buffer.from(twin, 'base64url').equals(Buffer.from(s, 'base64url')));
  await refused(t, '/rs', `${h}.${p}.${twin}`);
  await refused(t, '/rs', `${h}.${p}.${s}=`);
  await refused(t, '/rs', `${h}.${p}.${s.slice(0, 100)}\t${s.slice(100)}`);
});

test.serial('duplicate members, validly signed: refused (parser differential with the upstream)', async (t) => {
  const body = JSON.stringify(ok()).slice(1, -1);
  await refused(t, '/rs', forge({ alg: 'RS256' }, `{"sub":"nobody",${body}}`, rsa.privateKey));
  await refused(t, '/rs', forge({ alg: 'RS256' }, `{${body},"s\\u0075b":"nobody"}`, rsa.privateKey));
  await refused(t, '/rs', forge('{"alg":"HS256","alg":"RS256"}', ok(), rsa.privateKey));
  await refused(t, '/rs', forge({ alg: 'RS256' }, `{${body},"aud":"evil"}`, rsa.privateKey));
});

test.serial('unknown critical header and unencoded payload (b64:false) are refused', async (t) => {
  await refused(t, '/rs', forge({ alg: 'RS256', crit: ['x-ignore-exp'], 'x-ignore-exp': true }, ok({ exp: now() - 3600 }), rsa.privateKey));
  await refused(t, '/rs', forge({ alg: 'RS256', crit: ['b64'], b64: false }, ok(), rsa.privateKey));
});

test.serial('huge tokens: over maxTokenLength → 401; over the header limit → 431; nothing forwarded', async (t) => {
  const big = forge({ alg: 'RS256' }, ok({ pad: 'x'.repeat(9000) }), rsa.privateKey);
  await refused(t, '/rs', big);
  const huge = forge({ alg: 'RS256' }, ok({ pad: 'x'.repeat(40000) }), rsa.privateKey);
  assertProblem(t, await call('/rs', huge), 431, 'GW_HEADERS_TOO_LARGE');
  t.is(up.received.length, 0);
});

test.serial('a validly signed subject with CR/LF cannot inject headers upstream', async (t) => {
  const tok = forge({ alg: 'RS256' }, claims('root\r\nX-Consumer-Name: admin', { iss: ISS, aud: AUD, groups: ['admins\r\nX-Injected: 1'], scope: 'a\nb' }), rsa.privateKey);
  const r = await call('/open', tok);
  t.is(r.status, 200);
  const h = up.received[0]!.headers;
  t.is(h['x-consumer-name'], undefined, 'an unknown subject names no consumer');
  t.is(h['x-authenticated-subject'], 'root%0D%0AX-Consumer-Name%3A%20admin');
  t.is(h['x-consumer-groups'], 'admins%0D%0AX-Injected%3A%201');
  t.is(h['x-injected'], undefined);
  t.is(h['x-authenticated-scopes'], 'a b', 'scope tokens split on any whitespace');
});

test.serial('token presented twice: a second Authorization line is not what the upstream sees instead', async (t) => {
  const good = forge({ alg: 'RS256' }, ok(), rsa.privateKey);
  const [r] = await send(gw.port, ['GET /rs HTTP/1.1', 'Host: gw.test', 'Connection: close', 'Authorization: Bearer garbage', `Authorization: Bearer ${good}`]);
  if (r!.status === 200) t.is(up.received[0]!.headers.authorization, `Bearer ${good}`, 'the upstream got the token that was checked');
  else { assertProblem(t, r!, 401, 'GW_UNAUTHORIZED'); t.is(up.received.length, 0); }
});
