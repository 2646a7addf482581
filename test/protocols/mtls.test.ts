/**
 * Client certificates (node.tls.clientCa): refused in the handshake (default) or with a 401
 * (clientAuth: http); a verified certificate's subject and fingerprint reach the upstream
 * as identity headers that a client can never set itself.
 */
import test from 'ava';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { freePort } from '../helpers/ports.ts';
import { makePki, makeCa, makeLeaf, fingerprint, type Pki } from './certs.ts';
import { curl, servedSubject } from './run.ts';

let pki: Pki;
let up: TestUpstream;
let strict: TestGateway;
let lenient: TestGateway;
let strictPort: number;
let lenientPort: number;

test.before(async () => {
  pki = makePki();
  makeCa(pki, 'ca');
  makeCa(pki, 'clients');
  makeCa(pki, 'rogue');
  makeLeaf(pki, 'ca', 'srv', '/CN=api.test', ['DNS:api.test']);
  makeLeaf(pki, 'clients', 'alice', '/O=Example/CN=alice', [], 'clientAuth');
  makeLeaf(pki, 'rogue', 'mallory', '/CN=alice', [], 'clientAuth');
  up = await startUpstream();
  [strictPort, lenientPort] = [await freePort(), await freePort()];
  const cfg = (port: number, clientAuth?: 'http') => ({
    node: { tls: { listen: `127.0.0.1:${port}`, certificates: [{ cert: pki.file('srv.pem'), key: pki.file('srv-key.pem') }], clientCa: pki.file('clients.pem'), ...(clientAuth ? { clientAuth } : {}) } },
    upstreams: { u: { targets: [{ url: up.url }] } },
    routes: { all: { match: { paths: ['/*'] }, upstream: 'u' } },
  });
  strict = await startGateway(cfg(strictPort));
  lenient = await startGateway(cfg(lenientPort, 'http'));
});
test.after.always(async () => { await strict?.stop(); await lenient?.stop(); await up?.close(); pki?.cleanup(); });

const base = (port: number): string[] => ['--cacert', pki.file('ca.pem'), '--resolve', `api.test:${port}:127.0.0.1`];
const alice = (): string[] => ['--cert', pki.file('alice.pem'), '--key', pki.file('alice-key.pem')];
const mallory = (): string[] => ['--cert', pki.file('mallory.pem'), '--key', pki.file('mallory-key.pem')];

test('handshake mode: no certificate or an untrusted one fails the handshake (openssl s_client)', async (t) => {
  // TLS 1.3 sends the client's failure after the handshake: ask for data so s_client sees the alert.
  const none = await servedSubject(strictPort, 'api.test', ['-tls1_2']);
  t.false(none.ok, none.out);
  const rogue = await servedSubject(strictPort, 'api.test', ['-tls1_2', '-cert', pki.file('mallory.pem'), '-key', pki.file('mallory-key.pem')]);
  t.false(rogue.ok);
  const good = await servedSubject(strictPort, 'api.test', ['-tls1_2', '-cert', pki.file('alice.pem'), '-key', pki.file('alice-key.pem')]);
  t.true(good.ok, good.out);
  const r = await curl([...base(strictPort), `https://api.test:${strictPort}/x`]);
  t.not(r.status, 200);
  t.not(r.code, 0);
});

test('a verified certificate reaches the upstream as subject and fingerprint, over HTTP/1.1 and HTTP/2; client copies are dropped', async (t) => {
  for (const v of ['--http1.1', '--http2']) {
    const r = await curl([...base(strictPort), ...alice(), v, `https://api.test:${strictPort}/who`, '-H', 'x-authenticated-client-subject: CN=root', '-H', 'X-Authenticated-Client-Fingerprint: 00']);
    t.is(r.status, 200, r.stderr);
    const h = (JSON.parse(r.body) as { headers: Record<string, string> }).headers;
    t.is(h['x-authenticated-client-subject'], 'CN=alice,O=Example');
    t.is(h['x-authenticated-client-fingerprint'], fingerprint(pki, 'alice'));
  }
  // The plain listener has no client certificate: a client's own copy never passes.
  const plain = await curl([`${strict.url}/who`, '-H', 'x-authenticated-client-subject: CN=alice,O=Example']);
  t.is((JSON.parse(plain.body) as { headers: Record<string, string> }).headers['x-authenticated-client-subject'], undefined);
});

test('http mode: no certificate or an untrusted one is a 401 problem+json, a trusted one passes', async (t) => {
  for (const v of ['--http1.1', '--http2']) {
    const none = await curl([...base(lenientPort), v, `https://api.test:${lenientPort}/x`]);
    t.is(none.status, 401, none.stderr);
    t.is((JSON.parse(none.body) as { code: string }).code, 'GW_UNAUTHORIZED');
    const rogue = await curl([...base(lenientPort), ...mallory(), v, `https://api.test:${lenientPort}/x`]);
    t.is(rogue.status, 401);
    const ok = await curl([...base(lenientPort), ...alice(), v, `https://api.test:${lenientPort}/x`]);
    t.is(ok.status, 200);
  }
});
