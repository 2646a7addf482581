/**
 * CONNECT over HTTP/2: the gateway is no forward proxy (405 problem+json on the stream);
 * extended CONNECT (RFC 8441) is offered for `:protocol websocket` only
 * (websocket-h2.test.ts), any other protocol is 405 too. Only that stream ends: the
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

test('extended CONNECT is offered (RFC 8441) for websocket only: another :protocol is 405 on that stream, the connection serves on', async (t) => {
  const c = await RawH2.connect(gw.port);
  try {
    await waitFor(() => c.of(T.SETTINGS).some((f) => !(f.flags & F.ACK)), { timeout: 5000, message: 'server SETTINGS' });
    // SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8) = 1.
    t.is(settingsOf(c).get(0x8), 1);
    const block = Buffer.concat([literal(':method', 'CONNECT'), literal(':protocol', 'connect-udp'), literal(':scheme', 'http'), literal(':path', '/ws'), literal(':authority', 'localhost')]);
    c.write(frame(T.HEADERS, F.END_HEADERS, 1, block));
    await waitFor(() => c.of(T.HEADERS, 1).length > 0 || c.of(T.RST_STREAM, 1).length > 0 || c.closed, { timeout: 5000, message: 'stream 1 answered' });
    const head = c.of(T.HEADERS, 1)[0];
    t.truthy(head, 'a response on stream 1');
    // HPACK: 0x48 0x03 "405" is :status 405 as a literal with indexed name (:status).
    t.true(head!.payload.includes(Buffer.from('405')), 'status 405');
    t.is(c.goaway, undefined, 'no GOAWAY: only the stream ended');
    c.write(frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 3, requestBlock('/plain')));
    await waitFor(() => c.of(T.DATA, 3).some((f) => f.flags & F.END_STREAM) || c.closed, { timeout: 5000, message: 'stream 3 answered' });
    t.is(Buffer.concat(c.of(T.DATA, 3).map((f) => f.payload)).toString(), 'origin GET /plain');
  } finally { c.close(); }
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
