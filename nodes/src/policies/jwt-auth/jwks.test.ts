import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtAuth } from './index.ts';
import { forge, claims, rsaPair } from './testkit.ts';
import { fakeCtx, make, run } from '../auth-common/testkit.ts';
import type { LocalReply } from '../../request/policy.ts';

const k1 = rsaPair();
const k2 = rsaPair();
const consumers = { bob: {} };

/** A JWKS endpoint whose key set the test changes; counts fetches. */
interface JwksServer { url: string; keys: unknown[]; fetches: number; status: number; close(): Promise<void> }
async function jwksServer(): Promise<JwksServer> {
  const st: JwksServer = { url: '', keys: [], fetches: 0, status: 200, close: async () => undefined };
  const server = http.createServer((_req, res) => {
    st.fetches++;
    res.writeHead(st.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: st.keys }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  st.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  st.close = () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  return st;
}

const tok = (kid: string | undefined, key = k1) => forge({ alg: 'RS256', ...(kid ? { kid } : {}) }, claims('bob'), key.privateKey);
const req = (t: string) => fakeCtx({ headers: { authorization: `Bearer ${t}` } });

test('keys come from the JWKS; an unknown kid refetches at most once per cooldown', async (t) => {
  const srv = await jwksServer();
  try {
    srv.keys = [{ ...k1.publicJwk, kid: 'k1', use: 'sig' }];
    const h = make(jwtAuth, { algorithms: ['RS256'], jwks: srv.url, jwksCooldown: '1h' }, { consumers });
    t.is(await run(h, req(tok('k1'))), undefined);
    t.is(await run(h, req(tok('k1'))), undefined);
    t.is(srv.fetches, 1, 'cached');
    srv.keys.push({ ...k2.publicJwk, kid: 'k2' });
    for (let i = 0; i < 5; i++) t.is(((await run(h, req(tok('k2', k2)))) as LocalReply).code, 'GW_UNAUTHORIZED');
    for (let i = 0; i < 5; i++) await run(h, req(tok(`random-${i}`)));
    t.is(srv.fetches, 1, 'inside the cooldown: unknown kids trigger no fetch');
    // Another policy instance with the same settings shares the cache (config reloads).
    make(jwtAuth, { algorithms: ['RS256'], jwks: srv.url, jwksCooldown: '1h' }, { consumers });
    t.is(srv.fetches, 1);
  } finally { await srv.close(); }
});

test('key rotation: a new kid is picked up once the cooldown allows a refetch', async (t) => {
  const srv = await jwksServer();
  try {
    srv.keys = [{ ...k1.publicJwk, kid: 'k1' }];
    const h = make(jwtAuth, { algorithms: ['RS256'], jwks: srv.url, jwksCooldown: '0s' }, { consumers });
    t.is(await run(h, req(tok('k1'))), undefined);
    srv.keys = [{ ...k2.publicJwk, kid: 'k2' }];
    t.is(await run(h, req(tok('k2', k2))), undefined);
    t.is(srv.fetches, 2);
  } finally { await srv.close(); }
});

test('kid-less token with several fitting keys: each is tried', async (t) => {
  const srv = await jwksServer();
  try {
    srv.keys = [{ ...k1.publicJwk, kid: 'a' }, { ...k2.publicJwk, kid: 'b' }];
    const h = make(jwtAuth, { algorithms: ['RS256'], jwks: srv.url, jwksTimeout: '2s' }, { consumers });
    t.is(await run(h, req(tok(undefined, k2))), undefined);
    t.is(((await run(h, req(tok(undefined, rsaPair())))) as LocalReply).code, 'GW_UNAUTHORIZED');
  } finally { await srv.close(); }
});

test('JWKS unreachable or broken: 401 invalid_token, never a 500 or an exception', async (t) => {
  const srv = await jwksServer();
  srv.status = 500;
  const h = make(jwtAuth, { algorithms: ['RS256'], jwks: srv.url, jwksMaxAge: '1s', jwksCooldown: '0s' }, { consumers });
  t.is(((await run(h, req(tok('k1')))) as LocalReply).code, 'GW_UNAUTHORIZED');
  srv.status = 200;
  srv.keys = [{ kty: 'RSA' }];
  t.is(((await run(h, req(tok('k1')))) as LocalReply).code, 'GW_UNAUTHORIZED');
  await srv.close();
  t.is(((await run(h, req(tok('k1')))) as LocalReply).code, 'GW_UNAUTHORIZED');
});
