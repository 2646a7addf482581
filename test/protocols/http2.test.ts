/**
 * HTTP/2 downstream through the one pipeline, with real clients (curl, nghttp, h2load):
 * h2c with prior knowledge next to HTTP/1.1 on the same port, policies, errors, bodies,
 * logs and metrics exactly as for HTTP/1.1.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { curl, run } from './run.ts';
import { waitFor } from '../helpers/wait.ts';

let up: TestUpstream;
let gw: TestGateway;
const digest = (k: string): string => `sha256:${createHash('sha256').update(k).digest('hex')}`;

test.before(async () => {
  up = await startUpstream();
  up.respond = (r, res) => {
    if (r.url === '/open/late') {
      // Answers after the client has reset its stream (the test below).
      setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('late'); }, 150);
      return;
    }
    if (r.url === '/hop') {
      // Connection-specific headers are illegal in HTTP/2: the gateway must not fail on them.
      res.writeHead(200, { connection: 'x-private', 'keep-alive': 'timeout=5', 'x-private': '1', 'x-kept': 'yes', 'content-type': 'text/plain' });
      res.end('hop');
      return;
    }
    const body = JSON.stringify({ method: r.method, url: r.url, headers: r.headers, body: r.body.toString('utf8') });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  };
  gw = await startGateway({
    node: { http2: { cleartext: true } },
    consumers: { alice: { keys: [digest('k-alice')] } },
    upstreams: { u: { targets: [{ url: up.url }] } },
    routes: {
      open: { match: { paths: ['/open', '/open/*', '/hop'] }, upstream: 'u' },
      keyed: { match: { paths: ['/keyed'] }, upstream: 'u', policies: { 'key-auth': {} } },
      limited: { match: { paths: ['/limited'] }, upstream: 'u', policies: { 'rate-limit': { limit: 2, window: '1m', by: 'ip' } } },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });

const h2c = (path: string, extra: string[] = []): ReturnType<typeof curl> => curl(['--http2-prior-knowledge', ...extra, `${gw.url}${path}`]);

test.serial('h2c with prior knowledge and HTTP/1.1 share the port and see the same request', async (t) => {
  const a = await h2c('/open/x?y=1', ['-H', 'x-test: 1']);
  const b = await curl(['--http1.1', '-H', 'x-test: 1', `${gw.url}/open/x?y=1`]);
  t.is(a.version, '2');
  t.is(b.version, '1.1');
  const ha = (JSON.parse(a.body) as { url: string; headers: Record<string, string> });
  const hb = (JSON.parse(b.body) as { url: string; headers: Record<string, string> });
  t.is(ha.url, hb.url);
  for (const k of ['x-test', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-for']) t.is(ha.headers[k], hb.headers[k], k);
  t.false(Object.keys(ha.headers).some((k) => k.startsWith(':')), 'no pseudo-header forwarded');
});

test.serial('a POST body streams through HTTP/2 (nghttp)', async (t) => {
  const payload = 'x'.repeat(200_000);
  const file = `/tmp/gh-h2-body-${process.pid}`;
  (await import('node:fs')).writeFileSync(file, payload);
  const r = await run('nghttp', ['-d', file, `${gw.url}/open/post`]);
  (await import('node:fs')).rmSync(file);
  t.is(r.code, 0, r.stderr);
  const seen = JSON.parse(r.stdout) as { method: string; body: string };
  t.is(seen.method, 'POST');
  t.is(seen.body.length, payload.length);
});

test.serial('a body without content-length (usual in HTTP/2) streams through whole', async (t) => {
  const http2 = await import('node:http2');
  const session = http2.connect(gw.url);
  try {
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/open/nolen' });
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString()));
      req.on('error', reject);
      req.write('part1-');
      setTimeout(() => req.end('part2'), 50);
    });
    const seen = JSON.parse(body) as { body: string; headers: Record<string, string> };
    t.is(seen.body, 'part1-part2');
  } finally { session.close(); }
});

test.serial('policies run for HTTP/2 exactly as for HTTP/1.1: key-auth and rate-limit', async (t) => {
  const none = await h2c('/keyed');
  t.is(none.status, 401);
  t.is((JSON.parse(none.body) as { code: string }).code, 'GW_UNAUTHORIZED');
  t.is((await h2c('/keyed', ['-H', 'x-api-key: k-alice'])).status, 200);
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await h2c('/limited')).status);
  t.deepEqual(statuses, [200, 200, 429]);
  const nf = await h2c('/nowhere');
  t.is(nf.status, 404);
  t.is((JSON.parse(nf.body) as { code: string }).code, 'GW_ROUTE_NOT_FOUND');
});

test.serial('connection-specific upstream headers are dropped, not fatal, on an HTTP/2 response', async (t) => {
  const r = await run('nghttp', ['-v', `${gw.url}/hop`]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /:status: 200/);
  t.regex(r.stdout, /x-kept: yes/);
  t.notRegex(r.stdout, /keep-alive:|x-private:/);
});

test.serial('a response ends with its last DATA frame; trailers are waited for only when the client takes them (TE: trailers)', async (t) => {
  // Without TE: trailers the END_STREAM flag rides on the body's DATA frame (no empty frame
  // after it); a client that takes trailers gets the stream held open for them.
  const plain = await run('nghttp', ['-v', `${gw.url}/open/frames`]);
  t.is(plain.code, 0, plain.stderr);
  const frames = (out: string): string[] => [...out.matchAll(/recv DATA frame <length=(\d+), flags=(0x0\d)/g)].map((m) => `${m[1]}/${m[2]}`);
  const p = frames(plain.stdout);
  t.true(p.length >= 1);
  t.regex(p.at(-1)!, /^[1-9]\d*\/0x01$/, `last DATA frame carries the body and END_STREAM: ${p.join(' ')}`);
  const withTe = await run('nghttp', ['-v', '-H', 'te: trailers', `${gw.url}/open/frames`]);
  t.is(withTe.code, 0, withTe.stderr);
  t.is(frames(withTe.stdout).at(-1), '0/0x01', 'the stream ends after the body, where trailers would go');
  t.regex(withTe.stdout, /:status: 200/);
});

test.serial('a stream the client resets before the upstream answers: the late answer goes nowhere, the connection and the node go on', async (t) => {
  const http2 = await import('node:http2');
  const session = http2.connect(gw.url);
  t.teardown(() => { session.close(); });
  const cut = session.request({ ':path': '/open/late' });
  cut.on('error', () => { /* the reset */ });
  cut.end();
  await new Promise((r) => setTimeout(r, 50));
  cut.close(http2.constants.NGHTTP2_CANCEL);
  await new Promise((r) => setTimeout(r, 300)); // the upstream has answered by now
  const again = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = session.request({ ':path': '/open/after' });
    let status = 0;
    let body = '';
    req.on('response', (h) => { status = Number(h[':status']); });
    req.setEncoding('utf8');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => resolve({ status, body }));
    req.on('error', reject);
    req.end();
  });
  t.is(again.status, 200, 'the same connection serves the next stream');
  t.is((JSON.parse(again.body) as { url: string }).url, '/open/after');
  t.is((await h2c('/open/x')).status, 200, 'a new connection is served too');
});

test.serial('the access log counts each HTTP/2 response\'s own bytes, not its connection\'s', async (t) => {
  const http2 = await import('node:http2');
  const session = http2.connect(gw.url);
  t.teardown(() => { session.close(); });
  const get = (path: string): Promise<number> => new Promise((resolve, reject) => {
    const req = session.request({ ':path': path });
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => resolve(n));
    req.on('error', reject);
    req.end();
  });
  // Three streams at once on one connection, bodies of different sizes.
  const paths = ['/open/bytes-a', '/open/bytes-bb?pad=' + 'x'.repeat(500), '/open/bytes-ccc?pad=' + 'y'.repeat(3000)];
  const sizes = await Promise.all(paths.map(get));
  gw.gw.rt.accessLog.flush();
  const lines = await waitFor(() => {
    const l = paths.map((p) => gw.accessLog.find((x) => x.path === p.split('?')[0]));
    return l.every(Boolean) ? l : undefined;
  });
  t.deepEqual(lines.map((l) => l!.bytesOut), sizes);
});

test.serial('logs and metrics count HTTP/2 requests on their route', async (t) => {
  const before = gw.accessLog.length;
  await h2c('/open/logged');
  // The access log writes in batches (at least once a second): wait for the line.
  const line = await waitFor(() => gw.accessLog.slice(before).find((l) => String(l.path ?? l.url ?? '').includes('/open/logged')), { timeout: 5000 }).catch(() => undefined);
  t.truthy(line, JSON.stringify(gw.accessLog.slice(before)));
  t.is(line!.route, 'open');
  const text = await (await fetch(`${gw.statusUrl}/metrics`)).text();
  t.regex(text, /route="open"/);
});

test.serial('many multiplexed streams (h2load) all succeed', async (t) => {
  const r = await run('h2load', ['-n', '400', '-c', '2', '-m', '50', `${gw.url}/open/load`], { timeout: 30_000 });
  t.regex(r.stdout, /400 succeeded/, r.stdout);
  t.regex(r.stdout, /status codes: 400 2xx/);
});
