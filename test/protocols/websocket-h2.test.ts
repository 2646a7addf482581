/**
 * WebSocket over HTTP/2 (RFC 8441 extended CONNECT): a node:http2 client opens
 * `:method CONNECT` + `:protocol websocket` streams through the gateway (h2c) to Debian's
 * python3-websockets echo server (an HTTP/1.1 upstream, ws.py), speaking WebSocket frames
 * over the stream. Policies answer as for HTTP/1.1 upgrades; routes without `websocket: true`
 * refuse.
 */
import test from 'ava';
import http2 from 'node:http2';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { spawnTracked, killTracked, type Tracked } from '../helpers/child.ts';
import { waitFor } from '../helpers/wait.ts';

const script = fileURLToPath(new URL('./ws.py', import.meta.url));
const digest = (k: string): string => `sha256:${createHash('sha256').update(k).digest('hex')}`;
let py: Tracked;
let gw: TestGateway;

test.before(async () => {
  py = spawnTracked('/usr/bin/python3', ['-u', script, 'server']);
  await waitFor(() => /^\d+\s*$/m.test(py.output()) || py.child.exitCode !== null, { timeout: 20_000, message: 'ws echo server listening' });
  const port = Number(/^(\d+)\s*$/m.exec(py.output())?.[1]);
  gw = await startGateway({
    node: { http2: { cleartext: true } },
    consumers: { alice: { keys: [digest('k-alice')] } },
    upstreams: { ws: { targets: [{ url: `http://127.0.0.1:${port}` }] } },
    routes: {
      chat: { match: { paths: ['/ws', '/ws/*'] }, upstream: 'ws', websocket: true },
      locked: { match: { paths: ['/locked'] }, upstream: 'ws', websocket: true, policies: { 'key-auth': {} } },
      plain: { match: { paths: ['/plain'] }, upstream: 'ws' },
    },
  } as never);
});
test.after.always(async () => { await gw?.stop(); if (py) await killTracked(py); });

/** A client→server frame: FIN, opcode, masked (RFC 6455 §5.3). Payloads under 126 bytes. */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
}

/** Server→client frames (unmasked, short) in `buf`: [opcode, payload] each. */
function serverFrames(buf: Buffer): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  let i = 0;
  while (i + 2 <= buf.length) {
    const len = buf[i + 1]! & 0x7f;
    if (i + 2 + len > buf.length) break;
    out.push([buf[i]! & 0x0f, buf.subarray(i + 2, i + 2 + len).toString()]);
    i += 2 + len;
  }
  return out;
}

interface Opened { status: number; headers: http2.IncomingHttpHeaders; stream: http2.ClientHttp2Stream; got: () => Buffer }

async function open(s: http2.ClientHttp2Session, path: string, extra: Record<string, string> = {}): Promise<Opened> {
  if (!s.remoteSettings.enableConnectProtocol) await new Promise<void>((r) => s.once('remoteSettings', () => r()));
  const stream = s.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': path, ':authority': '127.0.0.1', 'sec-websocket-version': '13', ...extra }, { endStream: false });
  let got = Buffer.alloc(0);
  stream.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); });
  const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => { stream.once('response', resolve); stream.once('error', reject); });
  return { status: Number(headers[':status']), headers, stream, got: () => got };
}

test('the server offers extended CONNECT; messages echo over an HTTP/2 stream; the connection keeps serving', async (t) => {
  const s = http2.connect(gw.url);
  try {
    const a = await open(s, '/ws/room');
    t.true(s.remoteSettings.enableConnectProtocol);
    t.is(a.status, 200);
    t.is(a.headers['sec-websocket-accept'], undefined, 'no HTTP/1.1 handshake fields on HTTP/2');
    a.stream.write(clientFrame(1, Buffer.from('one')));
    a.stream.write(clientFrame(2, Buffer.from('two')));
    await waitFor(() => serverFrames(a.got()).length >= 2, { timeout: 5000, message: 'two echoes' });
    t.deepEqual(serverFrames(a.got()).slice(0, 2), [[1, 'one'], [2, 'two']]);
    // A second tunnel and an ordinary request share the same connection.
    const b = await open(s, '/ws/other');
    b.stream.write(clientFrame(1, Buffer.from('three')));
    await waitFor(() => serverFrames(b.got()).length >= 1, { timeout: 5000, message: 'echo on the second tunnel' });
    t.deepEqual(serverFrames(b.got())[0], [1, 'three']);
    // Close handshake: the server answers with a close frame and the stream ends.
    a.stream.write(clientFrame(8, Buffer.from([0x03, 0xe8])));
    await new Promise<void>((r) => { a.stream.once('close', () => r()); a.stream.end(); });
    t.true(serverFrames(a.got()).some(([op]) => op === 8), 'close frame from the server');
    b.stream.close();
    // One access log line per tunnel, written when it closes, status 200 (HTTP/2's 101).
    await waitFor(() => gw.accessLog.some((l) => JSON.stringify(l).includes('/ws/room')), { timeout: 5000, message: 'tunnel access log line' });
    t.is(gw.accessLog.find((l) => JSON.stringify(l).includes('/ws/room'))!.status, 200);
    // Bytes through the tunnel are counted although a stream has no socket byte counts.
    const text = await (await fetch(`${gw.statusUrl}/metrics`)).text();
    const inBytes = Number(/^gatehouse_websocket_bytes_total\{direction="in"\} (\S+)$/m.exec(text)?.[1]);
    t.true(inBytes >= 2 * 9 + 4, `in bytes ${inBytes}`);
  } finally { s.close(); }
});

test('policies answer an HTTP/2 WebSocket as they answer an upgrade: 401 without a key, open with one', async (t) => {
  const s = http2.connect(gw.url);
  try {
    t.is((await open(s, '/locked')).status, 401);
    const ok = await open(s, '/locked', { 'x-api-key': 'k-alice' });
    t.is(ok.status, 200);
    ok.stream.write(clientFrame(1, Buffer.from('hi')));
    await waitFor(() => serverFrames(ok.got()).length >= 1, { timeout: 5000, message: 'echo' });
    t.deepEqual(serverFrames(ok.got())[0], [1, 'hi']);
    ok.stream.close();
  } finally { s.close(); }
});

test('a route without websocket: true refuses with 400; a plain CONNECT is still 405', async (t) => {
  const s = http2.connect(gw.url);
  try {
    t.is((await open(s, '/plain')).status, 400);
    const st = s.request({ ':method': 'CONNECT', ':authority': 'example.com:443' });
    const status = await new Promise<number>((resolve, reject) => { st.once('response', (h) => { resolve(Number(h[':status'])); }); st.once('error', reject); });
    st.resume();
    t.is(status, 405);
  } finally { s.close(); }
});
