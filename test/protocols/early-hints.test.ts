/**
 * Interim responses across protocols: an upstream's `103 Early Hints` (with its Link) and
 * `102 Processing` reach an HTTP/2 client as interim HEADERS frames before the final
 * response, from an HTTP/1.1 upstream and from an h2c:// one (and the h2c one's reach an
 * HTTP/1.1 client too).
 */
import test from 'ava';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';

let h1up: http.Server;
let h2up: http2.Http2Server;
let gw: TestGateway;

test.before(async () => {
  h1up = http.createServer((req, res) => {
    if (req.url === '/hints') res.writeEarlyHints({ link: '</h1.css>; rel=preload; as=style' });
    if (req.url === '/processing') res.writeProcessing();
    setTimeout(() => { res.end('final'); }, 50);
  });
  h2up = http2.createServer();
  h2up.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    stream.on('error', () => undefined);
    if (headers[':path'] === '/hints') stream.additionalHeaders({ ':status': 103, link: '</h2.css>; rel=preload; as=style' });
    if (headers[':path'] === '/processing') stream.additionalHeaders({ ':status': 102 });
    setTimeout(() => { if (!stream.destroyed) { stream.respond({ ':status': 200 }); stream.end('final'); } }, 50);
  });
  await new Promise<void>((r) => h1up.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => h2up.listen(0, '127.0.0.1', r));
  gw = await startGateway({
    node: { http2: { cleartext: true } },
    upstreams: {
      one: { targets: [{ url: `http://127.0.0.1:${(h1up.address() as AddressInfo).port}` }] },
      two: { targets: [{ url: `h2c://127.0.0.1:${(h2up.address() as AddressInfo).port}` }] },
    },
    routes: {
      one: { match: { paths: ['/one/*'] }, upstream: 'one', rewrite: { stripPrefix: '/one' } },
      two: { match: { paths: ['/two/*'] }, upstream: 'two', rewrite: { stripPrefix: '/two' } },
    },
  });
});
test.after.always(async () => { await gw?.stop(); h1up?.close(); h2up?.close(); });

interface Seen { interim: Array<{ status: number; link: string | undefined }>; status: number; body: string }

/** An HTTP/2 request through the gateway: the interim HEADERS frames, then the final response. */
async function h2get(path: string): Promise<Seen> {
  const s = http2.connect(gw.url);
  try {
    return await new Promise<Seen>((resolve, reject) => {
      const seen: Seen = { interim: [], status: 0, body: '' };
      const st = s.request({ ':path': path });
      st.on('headers', (h) => { seen.interim.push({ status: Number(h[':status']), link: h.link as string | undefined }); });
      st.on('response', (h) => { seen.status = Number(h[':status']); });
      st.setEncoding('utf8');
      st.on('data', (d: string) => { seen.body += d; });
      st.on('end', () => { resolve(seen); });
      st.on('error', reject);
    });
  } finally { s.close(); }
}

/** An HTTP/1.1 request on a raw socket: the whole response as sent, interim heads included. */
function h1raw(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(gw.port, '127.0.0.1');
    let out = '';
    c.on('data', (d: Buffer) => { out += d.toString('latin1'); if (/\r\n0\r\n\r\n$/.test(out)) c.end(); });
    c.on('close', () => { resolve(out); });
    c.on('error', reject);
    c.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  });
}

test('HTTP/1.1 upstream → HTTP/2 client: 103 Early Hints (with its Link) arrives before the final response', async (t) => {
  const r = await h2get('/one/hints');
  t.deepEqual(r.interim, [{ status: 103, link: '</h1.css>; rel=preload; as=style' }]);
  t.is(r.status, 200);
  t.is(r.body, 'final');
});

test('HTTP/1.1 upstream → HTTP/2 client: 102 Processing arrives as an interim head', async (t) => {
  const r = await h2get('/one/processing');
  t.deepEqual(r.interim, [{ status: 102, link: undefined }]);
  t.is(r.status, 200);
});

test('h2c upstream → HTTP/2 client: 103 Early Hints arrives before the final response', async (t) => {
  const r = await h2get('/two/hints');
  t.deepEqual(r.interim, [{ status: 103, link: '</h2.css>; rel=preload; as=style' }]);
  t.is(r.status, 200);
  t.is(r.body, 'final');
});

test('h2c upstream → HTTP/1.1 client: 103 Early Hints and 102 Processing on the wire before the final head', async (t) => {
  const hints = await h1raw('/two/hints');
  t.regex(hints, /^HTTP\/1\.1 103 Early Hints\r\n(?:[^\r\n]+\r\n)*link: <\/h2\.css>; rel=preload; as=style\r\n(?:[^\r\n]+\r\n)*\r\nHTTP\/1\.1 200 OK\r\n/i);
  const processing = await h1raw('/two/processing');
  t.regex(processing, /^HTTP\/1\.1 102 Processing\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
});

test('no interim heads when the upstream sends none', async (t) => {
  const r = await h2get('/two/plain');
  t.deepEqual(r.interim, []);
  t.is(r.status, 200);
});
