/**
 * TLS termination with real clients: openssl s_client (SNI, versions, client certificates)
 * and curl (ALPN h2 / http/1.1, mTLS). Certificates are made here with the openssl CLI.
 */
import test from 'ava';
import fs from 'node:fs';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';
import { makePki, makeCa, makeLeaf, type Pki } from './certs.ts';
import { curl, servedSubject } from './run.ts';

let pki: Pki;
let up: TestUpstream;
let gw: TestGateway;
let tlsPort: number;

test.before(async () => {
  pki = makePki();
  makeCa(pki, 'ca');
  makeLeaf(pki, 'ca', 'a', '/CN=a.test', ['DNS:a.test', 'DNS:www.a.test']);
  makeLeaf(pki, 'ca', 'b', '/CN=b.test', ['DNS:b.test', 'DNS:*.b.test']);
  makeLeaf(pki, 'ca', 'c', '/CN=c.test', []); // CN only, no SAN
  makeLeaf(pki, 'ca', 'a2', '/CN=a2.test', ['DNS:a.test', 'DNS:www.a.test']); // the renewal of a
  makeLeaf(pki, 'ca', 'other', '/CN=other.test', ['DNS:other.test']);
  for (const n of ['a', 'b', 'c']) {
    fs.copyFileSync(pki.file(`${n}.pem`), pki.file(`live-${n}.pem`));
    fs.copyFileSync(pki.file(`${n}-key.pem`), pki.file(`live-${n}-key.pem`));
  }
  up = await startUpstream();
  tlsPort = await freePort();
  gw = await startGateway({
    node: {
      tls: {
        listen: `127.0.0.1:${tlsPort}`,
        certificates: ['a', 'b', 'c'].map((n) => ({ cert: pki.file(`live-${n}.pem`), key: pki.file(`live-${n}-key.pem`) })),
        watch: '100ms',
      },
    },
    upstreams: { u: { targets: [{ url: up.url }] } },
    routes: { all: { match: { paths: ['/*'] }, upstream: 'u' } },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); pki?.cleanup(); });

test.serial('SNI picks the certificate by its names; no or an unknown name gets the first', async (t) => {
  t.is((await servedSubject(tlsPort, 'a.test')).subject, 'CN=a.test');
  t.is((await servedSubject(tlsPort, 'www.a.test')).subject, 'CN=a.test');
  t.is((await servedSubject(tlsPort, 'b.test')).subject, 'CN=b.test');
  t.is((await servedSubject(tlsPort, 'api.b.test')).subject, 'CN=b.test', 'wildcard SAN');
  t.is((await servedSubject(tlsPort, 'c.test')).subject, 'CN=c.test', 'CN when there is no SAN');
  t.is((await servedSubject(tlsPort, 'nobody.test')).subject, 'CN=a.test', 'unknown name: the default');
  t.is((await servedSubject(tlsPort, undefined)).subject, 'CN=a.test', 'no SNI: the default');
});

test.serial('TLS 1.2 and 1.3 are accepted, 1.1 is refused', async (t) => {
  t.true((await servedSubject(tlsPort, 'a.test', ['-tls1_2'])).ok);
  t.true((await servedSubject(tlsPort, 'a.test', ['-tls1_3'])).ok);
  const old = await servedSubject(tlsPort, 'a.test', ['-tls1_1']);
  t.false(old.ok);
});

test.serial('ALPN: curl gets HTTP/2 or HTTP/1.1 as asked; the upstream sees X-Forwarded-Proto https', async (t) => {
  const common = ['--cacert', pki.file('ca.pem'), '--resolve', `b.test:${tlsPort}:127.0.0.1`];
  const h2 = await curl([...common, '--http2', `https://b.test:${tlsPort}/hello?x=1`, '-H', 'x-forwarded-proto: http']);
  t.is(h2.status, 200, h2.stderr);
  t.is(h2.version, '2');
  const seen = JSON.parse(h2.body) as { url: string; headers: Record<string, string> };
  t.is(seen.url, '/hello?x=1');
  t.is(seen.headers['x-forwarded-proto'], 'https');
  t.is(seen.headers['x-forwarded-host'], `b.test:${tlsPort}`);
  t.is(seen.headers[':authority'], undefined, 'no pseudo-header reaches the upstream');
  const h1 = await curl([...common, '--http1.1', `https://b.test:${tlsPort}/one`]);
  t.is(h1.version, '1.1');
  t.is((JSON.parse(h1.body) as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'https');
  // The plain listener says http, whatever an untrusted client claims.
  const plain = await curl([`${gw.url}/p`, '-H', 'x-forwarded-proto: https']);
  t.is((JSON.parse(plain.body) as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'http');
});

test.serial('changed certificate files are served without a restart; a broken pair never replaces a good one', async (t) => {
  const metric = async (result: string): Promise<number> => {
    const text = await (await fetch(`${gw.statusUrl}/metrics`)).text();
    const m = new RegExp(`gatehouse_tls_certificate_reloads_total\\{result="${result}"\\} (\\d+)`).exec(text);
    return m ? Number(m[1]) : 0;
  };
  // Half-written: the certificate file cut in the middle.
  const good = fs.readFileSync(pki.file('a2.pem'));
  fs.writeFileSync(pki.file('live-a.pem'), good.subarray(0, good.length >> 1));
  await waitFor(async () => (await metric('rejected')) >= 1, { timeout: 10_000, message: 'a rejected reload' });
  t.is((await servedSubject(tlsPort, 'a.test')).subject, 'CN=a.test', 'the old pair still serves');
  // A whole certificate with the old key: a mismatched pair, also refused.
  fs.writeFileSync(pki.file('live-a.pem'), good);
  await waitFor(async () => (await metric('rejected')) >= 2, { timeout: 10_000, message: 'a second rejected reload' });
  t.is((await servedSubject(tlsPort, 'a.test')).subject, 'CN=a.test');
  // The matching key arrives: the renewal is served, for SNI and as the default.
  fs.copyFileSync(pki.file('a2-key.pem'), pki.file('live-a-key.pem'));
  await waitFor(async () => (await servedSubject(tlsPort, 'a.test')).subject === 'CN=a2.test', { timeout: 10_000, message: 'the renewed certificate' });
  t.is((await servedSubject(tlsPort, undefined)).subject, 'CN=a2.test', 'the default follows');
  t.true((await metric('applied')) >= 1);
  // A client that does not trust the renewed name still connects to the others.
  t.is((await servedSubject(tlsPort, 'b.test')).subject, 'CN=b.test');
});
