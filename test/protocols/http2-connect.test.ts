/**
 * CONNECT over HTTP/2: the gateway is no forward proxy (405 problem+json on the stream) and
 * does not offer WebSocket over HTTP/2 (RFC 8441): no SETTINGS_ENABLE_CONNECT_PROTOCOL, so an
 * extended CONNECT is reset with PROTOCOL_ERROR. Either way only that stream ends: the
 * connection keeps serving, nothing hangs.
 */
import test from 'ava';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';
import { RawH2, frame, literal, requestBlock, T, F } from './h2raw.ts';

let gw: TestGateway;
let origin: http.Server;

test.before(async () => {
  origin = http.createServer((req, res) => { res.end(`origin ${req.method} ${req.url}`); });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  const port = (origin.address() as AddressInfo).port;
  gw = await startGateway({
    node: { http2: { cleartext: true } },
    upstreams: { o: { targets: [{ url: `http://127.0.0.1:${port}` }] } },
    routes: {
      ws: { match: { paths: ['/ws'] }, upstream: 'o', websocket: true },
      plain: { match: { paths: ['/plain'] }, upstream: 'o' },
    },
  });
});
test.after.always(async () => { await gw?.stop(); origin?.close(); });

function settingsOf(c: RawH2): Map<number, number> {
  const out = new Map<number, number>();
  for (const f of c.of(T.SETTINGS)) {
    if (f.flags & F.ACK) continue;
    for (let i = 0; i + 6 <= f.payload.length; i += 6) out.set(f.payload.readUInt16BE(i), f.payload.readUInt32BE(i + 2));
  }
  return out;
}

test('extended CONNECT (:protocol websocket) is not offered: that stream is reset PROTOCOL_ERROR, the connection serves on', async (t) => {
  const c = await RawH2.connect(gw.port);
  try {
    await waitFor(() => c.of(T.SETTINGS).some((f) => !(f.flags & F.ACK)), { timeout: 5000, message: 'server SETTINGS' });
    // SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8) is not advertised (absent or 0).
    t.not(settingsOf(c).get(0x8), 1);
    const block = Buffer.concat([literal(':method', 'CONNECT'), literal(':protocol', 'websocket'), literal(':scheme', 'http'), literal(':path', '/ws'), literal(':authority', 'localhost'), literal('sec-websocket-version', '13')]);
    c.write(frame(T.HEADERS, F.END_HEADERS, 1, block));
    await waitFor(() => c.of(T.RST_STREAM, 1).length > 0 || c.closed, { timeout: 5000, message: 'stream 1 answered' });
    const rst = c.of(T.RST_STREAM, 1)[0];
    t.truthy(rst, 'RST_STREAM on the extended CONNECT stream');
    t.is(rst!.payload.readUInt32BE(0), http2.constants.NGHTTP2_PROTOCOL_ERROR);
    t.is(c.goaway, undefined, 'no GOAWAY: only the stream ended');
    // The same connection still serves a request.
    c.write(frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 3, requestBlock('/plain')));
    await waitFor(() => c.of(T.DATA, 3).some((f) => f.flags & F.END_STREAM) || c.closed, { timeout: 5000, message: 'stream 3 answered' });
    t.is(Buffer.concat(c.of(T.DATA, 3).map((f) => f.payload)).toString(), 'origin GET /plain');
  } finally { c.close(); }
});

test('a node:http2 client that tries WebSocket over HTTP/2 gets a stream error at once, not a hang', async (t) => {
  const s = http2.connect(gw.url);
  try {
    await new Promise<void>((r) => s.once('remoteSettings', () => r()));
    t.false(s.remoteSettings.enableConnectProtocol === true, 'the server does not offer extended CONNECT');
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      let st: http2.ClientHttp2Stream;
      try {
        st = s.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/ws', ':scheme': 'http', ':authority': 'localhost' });
      } catch (e) { resolve(e as NodeJS.ErrnoException); return; }
      st.on('response', () => { resolve(undefined); });
      st.on('error', (e: NodeJS.ErrnoException) => { resolve(e); });
      st.on('close', () => { resolve(Object.assign(new Error(`closed ${st.rstCode}`), { code: String(st.rstCode) })); });
    });
    t.truthy(err, 'the attempt fails');
    // The session is unharmed: an ordinary request on it is served.
    const body = await new Promise<string>((resolve, reject) => {
      const st = s.request({ ':path': '/plain' });
      let b = '';
      st.setEncoding('utf8');
      st.on('data', (d: string) => { b += d; });
      st.on('end', () => { resolve(b); });
      st.on('error', reject);
    });
    t.is(body, 'origin GET /plain');
  } finally { s.close(); }
});

test('plain CONNECT over HTTP/2 is 405 problem+json on that stream (no forward proxy), as on HTTP/1.1', async (t) => {
  const s = http2.connect(gw.url);
  try {
    const r = await new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) => {
      const st = s.request({ ':method': 'CONNECT', ':authority': 'example.com:443' });
      let status = 0;
      let type: string | undefined;
      let b = '';
      st.on('response', (h) => { status = Number(h[':status']); type = h['content-type'] as string | undefined; });
      st.setEncoding('utf8');
      st.on('data', (d: string) => { b += d; });
      st.on('end', () => { resolve({ status, type, body: b }); });
      st.on('error', reject);
    });
    t.is(r.status, 405);
    t.is(r.type, 'application/problem+json');
    t.is((JSON.parse(r.body) as { code: string }).code, 'GW_METHOD_NOT_ALLOWED');
    t.false(s.destroyed);
  } finally { s.close(); }
});
