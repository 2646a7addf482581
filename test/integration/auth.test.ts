/**
 * Authentication and authorisation through the whole gateway: key-auth, basic-auth,
 * jwt-auth (static keys and a JWKS served by a real local server), acl, their any-of
 * combination, anonymous, shadow mode, and the identity headers the upstream receives.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { hashPassword } from '../../nodes/src/policies/basic-auth/scrypt.ts';
import { forge, claims, rsaPair } from '../../nodes/src/policies/jwt-auth/testkit.ts';

const rsa = rsaPair();
const jwksKey = rsaPair();
const digest = (k: string): string => `sha256:${createHash('sha256').update(k).digest('hex')}`;
const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const jwt = (sub: string, extra: Record<string, unknown> = {}): string => `Bearer ${forge({ alg: 'RS256' }, claims(sub, extra), rsa.privateKey)}`;

let up: TestUpstream;
let idp: TestUpstream;
let gw: TestGateway;

test.before(async () => {
  up = await startUpstream();
  idp = await startUpstream({
    respond: (_r, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ keys: [{ ...jwksKey.publicJwk, kid: 'idp-1', use: 'sig' }] })); },
  });
  const FAST = { N: 1024, r: 8, p: 1 };
  gw = await startGateway({
    upstreams: { a: { targets: [{ url: up.url }] } },
    consumers: {
      alice: { groups: ['staff'], keys: [digest('alice-key')], passwords: [await hashPassword('alice-pw', FAST)], jwtSubjects: ['idp|alice'] },
      bob: { groups: ['banned', 'staff'], keys: [digest('bob-key')] },
      guest: { groups: ['public'] },
    },
    routes: {
      key: { match: { paths: ['/key'] }, upstream: 'a', policies: { 'key-auth': { query: 'api_key' } } },
      basic: { match: { paths: ['/basic'] }, upstream: 'a', policies: { 'basic-auth': {} } },
      jwt: { match: { paths: ['/jwt'] }, upstream: 'a', policies: { 'jwt-auth': { algorithms: ['RS256'], keys: [rsa.publicPem], consumerClaim: 'sub' } } },
      jwks: { match: { paths: ['/jwks'] }, upstream: 'a', policies: { 'jwt-auth': { algorithms: ['RS256'], jwks: `${idp.url}/.well-known/jwks.json`, issuer: 'https://idp', consumerClaim: 'sub' } } },
      multi: {
        match: { paths: ['/multi'] }, upstream: 'a',
        policies: { 'key-auth': {}, 'basic-auth': {}, 'jwt-auth': { algorithms: ['RS256'], keys: [rsa.publicPem], anonymous: 'guest', consumerClaim: 'sub' } },
      },
      staff: { match: { paths: ['/staff'] }, upstream: 'a', policies: { 'key-auth': {}, acl: { allow: ['staff'], deny: ['banned'] } } },
      scoped: { match: { paths: ['/scoped'] }, upstream: 'a', policies: { 'jwt-auth': { algorithms: ['RS256'], keys: [rsa.publicPem] }, acl: { requireClaims: { scope: ['users:read'] } } } },
      shadow: { match: { paths: ['/shadow'] }, upstream: 'a', policies: { 'key-auth': { enforce: false } } },
      aclonly: { match: { paths: ['/aclonly'] }, upstream: 'a', policies: { acl: { allow: ['staff'] } } },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); await idp?.close(); });
test.beforeEach(() => { up.received.length = 0; });

const ID_HEADERS = ['x-consumer-name', 'x-consumer-groups', 'x-consumer-anonymous', 'x-authenticated-subject', 'x-authenticated-scopes'];
const identity = (h: Record<string, unknown>) => Object.fromEntries(ID_HEADERS.filter((k) => h[k] !== undefined).map((k) => [k, h[k]]));

test.serial('key-auth: identity headers set by the gateway, key and forged identity not forwarded', async (t) => {
  const r = await http(`${gw.url}/key?x=1&api_key=alice-key`, { headers: { 'x-consumer-name': 'admin', 'x-consumer-groups': 'admins', 'x-authenticated-subject': 'root' } });
  t.is(r.status, 200);
  const got = up.received[0]!;
  t.deepEqual(identity(got.headers), { 'x-consumer-name': 'alice', 'x-consumer-groups': 'staff' });
  t.is(got.url, '/key?x=1');
  const h = await http(`${gw.url}/key`, { headers: { 'x-api-key': 'bob-key' } });
  t.is(h.status, 200);
  t.is(up.received[1]!.headers['x-api-key'], undefined);
});

test.serial('key-auth: wrong key → 401 problem+json with the challenge; nothing forwarded', async (t) => {
  const r = await http(`${gw.url}/key`, { headers: { 'x-api-key': 'nope' } });
  t.is(r.status, 401);
  t.is(r.headers['www-authenticate'], 'ApiKey realm="gatehouse"');
  t.is(r.headers['content-type'], 'application/problem+json');
  t.like(r.json(), { code: 'GW_UNAUTHORIZED', status: 401 });
  t.is(up.received.length, 0);
});

test.serial('basic-auth: valid, wrong, malformed', async (t) => {
  const ok = await http(`${gw.url}/basic`, { headers: { authorization: basic('alice', 'alice-pw') } });
  t.is(ok.status, 200);
  t.is(up.received[0]!.headers.authorization, undefined, 'the password is not forwarded');
  t.is(up.received[0]!.headers['x-consumer-name'], 'alice');
  for (const a of [basic('alice', 'wrong'), basic('nobody', 'x'), 'Basic !!!', 'Basic', 'basic =']) {
    const r = await http(`${gw.url}/basic`, { headers: { authorization: a } });
    t.is(r.status, 401, a);
    t.is(r.headers['www-authenticate'], 'Basic realm="gatehouse", charset="UTF-8"');
  }
  t.is(up.received.length, 1);
});

test.serial('jwt-auth: subject and scopes reach the upstream; the token is forwarded by default', async (t) => {
  const tok = jwt('idp|alice', { scope: 'users:read users:write' });
  const r = await http(`${gw.url}/jwt`, { headers: { authorization: tok } });
  t.is(r.status, 200);
  const got = up.received[0]!;
  t.deepEqual(identity(got.headers), { 'x-consumer-name': 'alice', 'x-consumer-groups': 'staff', 'x-authenticated-subject': 'idp|alice', 'x-authenticated-scopes': 'users:read users:write' });
  t.is(got.headers.authorization, tok);
});

test.serial('jwt-auth with a JWKS from a real HTTP server', async (t) => {
  const tok = forge({ alg: 'RS256', kid: 'idp-1' }, claims('idp|alice', { iss: 'https://idp' }), jwksKey.privateKey);
  const r = await http(`${gw.url}/jwks`, { headers: { authorization: `Bearer ${tok}` } });
  t.is(r.status, 200);
  t.is(up.received[0]!.headers['x-consumer-name'], 'alice');
  const wrongIss = forge({ alg: 'RS256', kid: 'idp-1' }, claims('idp|alice', { iss: 'https://other' }), jwksKey.privateKey);
  const bad = await http(`${gw.url}/jwks`, { headers: { authorization: `Bearer ${wrongIss}` } });
  t.is(bad.status, 401);
  t.regex(String(bad.headers['www-authenticate']), /^Bearer realm="gatehouse", error="invalid_token"/);
  t.is(idp.received.length, 1, 'the JWKS was fetched once and cached');
});

test.serial('several policies on one route: any one passes; anonymous only without any credential', async (t) => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ 'x-api-key': 'bob-key' }, 'bob'],
    [{ authorization: basic('alice', 'alice-pw') }, 'alice'],
    [{ authorization: jwt('idp|alice') }, 'alice'],
    [{}, 'guest'],
  ];
  for (const [headers, name] of cases) {
    up.received.length = 0;
    const r = await http(`${gw.url}/multi`, { headers });
    t.is(r.status, 200, name);
    t.is(up.received[0]!.headers['x-consumer-name'], name);
  }
  t.is(up.received[0]!.headers['x-consumer-anonymous'], 'true');
  t.deepEqual(identity(up.received[0]!.headers), { 'x-consumer-name': 'guest', 'x-consumer-groups': 'public', 'x-consumer-anonymous': 'true' });
});

test.serial('several policies: a wrong credential is never anonymous; the 401 offers every scheme', async (t) => {
  up.received.length = 0;
  const wrong: Array<Record<string, string>> = [{ 'x-api-key': 'wrong' }, { authorization: basic('alice', 'bad') }, { authorization: 'Bearer a.b.c' }];
  for (const headers of wrong) {
    const r = await http(`${gw.url}/multi`, { headers });
    t.is(r.status, 401, JSON.stringify(headers));
    const challenges = [r.headers['www-authenticate']].flat();
    t.is(challenges.length, 3);
    t.true(challenges.some((c) => String(c).startsWith('Bearer')) && challenges.some((c) => String(c).startsWith('ApiKey')) && challenges.some((c) => String(c).startsWith('Basic')));
  }
  t.is(up.received.length, 0);
});

test.serial('acl: allowed group passes, deny wins, 403 GW_FORBIDDEN; no consumer on an acl-only route is 401', async (t) => {
  t.is((await http(`${gw.url}/staff`, { headers: { 'x-api-key': 'alice-key' } })).status, 200);
  const denied = await http(`${gw.url}/staff`, { headers: { 'x-api-key': 'bob-key' } });
  t.is(denied.status, 403);
  t.is(denied.json().code, 'GW_FORBIDDEN');
  t.is((await http(`${gw.url}/staff`)).status, 401);
  const anon = await http(`${gw.url}/aclonly`, { headers: { 'x-consumer-name': 'alice', 'x-consumer-groups': 'staff' } });
  t.is(anon.status, 401, 'client-sent identity headers are no identity');
  t.truthy(anon.headers['www-authenticate']);
  t.is(up.received.length, 1);
});

test.serial('acl requireClaims: missing scope → 403 with insufficient_scope', async (t) => {
  t.is((await http(`${gw.url}/scoped`, { headers: { authorization: jwt('bob', { scope: 'users:read' }) } })).status, 200);
  const r = await http(`${gw.url}/scoped`, { headers: { authorization: jwt('bob', { scp: ['users:write'] }) } });
  t.is(r.status, 403);
  t.is(r.headers['www-authenticate'], 'Bearer realm="gatehouse", error="insufficient_scope", scope="users:read"');
  t.is(up.received.length, 1);
});

test.serial('shadow mode: a missing key is let through (and counted); a valid key still identifies', async (t) => {
  t.is((await http(`${gw.url}/shadow`)).status, 200);
  t.is(up.received[0]!.headers['x-consumer-name'], undefined);
  t.is((await http(`${gw.url}/shadow`, { headers: { 'x-api-key': 'alice-key' } })).status, 200);
  t.is(up.received[1]!.headers['x-consumer-name'], 'alice');
  const metrics = await http(`${gw.statusUrl}/metrics`);
  t.regex(metrics.body, /gatehouse_policy_decisions_total\{route="shadow",policy="key-auth",outcome="shadow_deny"\} 1/);
});
