/**
 * The node's own HTTP/2 server (listeners/h2-wire.ts, decision 0015) against what RFC 9113
 * asks of a server, sent as raw frames (h2raw.ts): a malformed request is reset on its own
 * stream (PROTOCOL_ERROR) and never reaches the upstream, the connection and the next
 * request going on; a frame that breaks the connection's rules closes it with GOAWAY and the
 * code the RFC names, counted as protocol_error. Each case ends with a good request on a
 * fresh connection, so one client's malformed frames never cost another.
 */
import test from 'ava';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { waitFor } from '../helpers/wait.ts';
import { RawH2, frame, T, F, requestBlock, literal, settings, PREFACE } from './h2raw.ts';
import net from 'node:net';

let up: TestUpstream;
let gw: TestGateway;

test.before(async () => {
  up = await startUpstream();
  gw = await startGateway({
    node: { http2: { cleartext: true } },
    upstreams: { u: { targets: [{ url: up.url }] } },
    routes: { all: { match: { paths: ['/*'] }, upstream: 'u' } },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });

const PROTOCOL_ERROR = 1, FLOW_CONTROL_ERROR = 3, FRAME_SIZE_ERROR = 6, COMPRESSION_ERROR = 9;

async function protocolErrors(): Promise<number> {
  const text = await (await fetch(`${gw.statusUrl}/metrics`)).text();
  const m = /^gatehouse_http2_connections_closed_total\{reason="protocol_error"\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/** A good GET on stream `id` of `c` gets a 200 head. */
async function served(t: import('ava').ExecutionContext, c: RawH2, id: number): Promise<void> {
  c.write(frame(T.HEADERS, F.END_STREAM | F.END_HEADERS, id, requestBlock('/fine')));
  await waitFor(() => c.of(T.HEADERS, id).length > 0, { timeout: 5000, message: `stream ${id} answered` });
  t.is(c.of(T.HEADERS, id)[0]!.payload[0], 0x88, 'status 200 (HPACK static index 8)');
}

const malformed: Array<[string, Buffer]> = [
  ['an upper-case field name', requestBlock('/m', [['X-Upper', '1']])],
  ['a connection-specific field', requestBlock('/m', [['connection', 'keep-alive']])],
  ['transfer-encoding', requestBlock('/m', [['transfer-encoding', 'chunked']])],
  ['TE other than trailers', requestBlock('/m', [['te', 'gzip']])],
  ['CR LF in a value (request splitting on the HTTP/1.1 side)', requestBlock('/m', [['x-a', 'b\r\nx-injected: 1']])],
  ['a NUL in a value', requestBlock('/m', [['x-a', 'b\0c']])],
  ['a value with leading whitespace', requestBlock('/m', [['x-a', ' b']])],
  ['a pseudo-header after a regular field', Buffer.concat([literal(':method', 'GET'), literal(':scheme', 'http'), literal('x-a', 'b'), literal(':path', '/m'), literal(':authority', 'localhost')])],
  ['a repeated :path', Buffer.concat([requestBlock('/m'), literal(':path', '/other')])],
  ['no :path', Buffer.concat([literal(':method', 'GET'), literal(':scheme', 'http'), literal(':authority', 'localhost')])],
  ['an unknown pseudo-header', Buffer.concat([literal(':method', 'GET'), literal(':scheme', 'http'), literal(':path', '/m'), literal(':foo', 'x')])],
  ['a :path not in origin form', requestBlock('http://evil.test/m')],
  ['a :path with a space', requestBlock('/m x')],
  ['two content-lengths that differ', requestBlock('/m', [['content-length', '1'], ['content-length', '2']], 'POST')],
];

for (const [what, block] of malformed) {
  test.serial(`a request with ${what} is reset (PROTOCOL_ERROR) and never forwarded; the connection goes on`, async (t) => {
    const before = up.received.length;
    const c = await RawH2.connect(gw.port);
    try {
      c.write(frame(T.HEADERS, F.END_STREAM | F.END_HEADERS, 1, block));
      await waitFor(() => c.of(T.RST_STREAM, 1).length > 0, { timeout: 5000, message: 'stream 1 reset' });
      t.is(c.of(T.RST_STREAM, 1)[0]!.payload.readUInt32BE(0), PROTOCOL_ERROR);
      t.is(c.of(T.HEADERS, 1).length, 0, 'no response head');
      await served(t, c, 3);
      t.false(c.closed);
      t.is(up.received.length, before + 1, 'only the good request reached the upstream');
    } finally { c.close(); }
  });
}

test.serial('a body longer than its content-length is reset, not forwarded whole', async (t) => {
  const c = await RawH2.connect(gw.port);
  try {
    c.write(frame(T.HEADERS, F.END_HEADERS, 1, requestBlock('/m', [['content-length', '3']], 'POST')));
    c.write(frame(T.DATA, F.END_STREAM, 1, Buffer.from('too long')));
    await waitFor(() => c.of(T.RST_STREAM, 1).length > 0, { timeout: 5000, message: 'stream 1 reset' });
    t.is(c.of(T.RST_STREAM, 1)[0]!.payload.readUInt32BE(0), PROTOCOL_ERROR);
    await served(t, c, 3);
  } finally { c.close(); }
});

const connectionErrors: Array<[string, (c: RawH2) => void, number]> = [
  ['DATA on stream 0', (c) => c.write(frame(T.DATA, 0, 0, Buffer.from('x'))), PROTOCOL_ERROR],
  ['a HEADERS on an even (server) stream id', (c) => c.write(frame(T.HEADERS, F.END_STREAM | F.END_HEADERS, 2, requestBlock('/m'))), PROTOCOL_ERROR],
  ['stream ids going down', (c) => c.write(Buffer.concat([frame(T.HEADERS, F.END_STREAM | F.END_HEADERS, 5, requestBlock('/fine')), frame(T.HEADERS, F.END_STREAM | F.END_HEADERS, 3, requestBlock('/fine'))])), PROTOCOL_ERROR],
  ['a PUSH_PROMISE from a client', (c) => c.write(frame(5, F.END_HEADERS, 1, Buffer.concat([Buffer.from([0, 0, 0, 2]), requestBlock('/m')]))), PROTOCOL_ERROR],
  ['a frame over SETTINGS_MAX_FRAME_SIZE', (c) => c.write(frame(T.HEADERS, F.END_HEADERS, 1, Buffer.alloc(20_000))), FRAME_SIZE_ERROR],
  ['a WINDOW_UPDATE of 0 on the connection', (c) => c.write(frame(T.WINDOW_UPDATE, 0, 0, Buffer.alloc(4))), PROTOCOL_ERROR],
  ['a connection window past 2^31-1', (c) => { const p = Buffer.alloc(4); p.writeUInt32BE(0x7fffffff); c.write(frame(T.WINDOW_UPDATE, 0, 0, p)); }, FLOW_CONTROL_ERROR],
  ['a header block HPACK cannot decode', (c) => c.write(frame(T.HEADERS, F.END_STREAM | F.END_HEADERS, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]))), COMPRESSION_ERROR],
  ['a CONTINUATION without a HEADERS before it', (c) => c.write(frame(T.CONTINUATION, F.END_HEADERS, 1, requestBlock('/m'))), PROTOCOL_ERROR],
  ['another frame inside a header block', (c) => c.write(Buffer.concat([frame(T.HEADERS, F.END_STREAM, 1, requestBlock('/m')), frame(T.PING, 0, 0, Buffer.alloc(8))])), PROTOCOL_ERROR],
  ['a PING of the wrong size', (c) => c.write(frame(T.PING, 0, 0, Buffer.alloc(4))), FRAME_SIZE_ERROR],
];

for (const [what, send, code] of connectionErrors) {
  test.serial(`${what} closes the connection with GOAWAY (code ${code}), counted; others are served`, async (t) => {
    const before = await protocolErrors();
    const c = await RawH2.connect(gw.port);
    await waitFor(() => c.of(T.SETTINGS).length > 0, { timeout: 5000, message: 'server SETTINGS' });
    send(c);
    await waitFor(() => c.closed, { timeout: 5000, message: 'the connection closed' });
    t.is(c.goawayCode, code);
    t.true(await protocolErrors() > before);
    const other = await RawH2.connect(gw.port);
    try { await served(t, other, 1); } finally { other.close(); }
  });
}

test.serial('a connection whose first frame is not SETTINGS, or that sends no preface, is closed', async (t) => {
  const sock = net.connect(gw.port, '127.0.0.1');
  await new Promise<void>((resolve) => sock.once('connect', resolve));
  let got = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); });
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  sock.on('error', () => undefined);
  sock.write(Buffer.concat([PREFACE, frame(T.PING, 0, 0, Buffer.alloc(8))]));
  await closed;
  // SETTINGS, WINDOW_UPDATE, then GOAWAY PROTOCOL_ERROR.
  const goaway = got.indexOf(Buffer.from([0, 0, 8, T.GOAWAY]));
  t.true(goaway >= 0, 'a GOAWAY was sent');
  t.is(got.readUInt32BE(goaway + 9 + 4), PROTOCOL_ERROR);
  const c = await RawH2.connect(gw.port);
  try { await served(t, c, 1); } finally { c.close(); }
});

test.serial('flow control: a 1 MiB upload sent only as far as the node\'s windows allow arrives whole; the node refills the stream window as the upstream reads', async (t) => {
  up.respond = (r, res) => { res.end(String(r.body.length)); };
  const c = await RawH2.connect(gw.port, [[4, 65_535]]);
  try {
    c.write(frame(T.HEADERS, F.END_HEADERS, 1, requestBlock('/upload', [['content-length', String(1 << 20)]], 'POST')));
    // Past our initial 64 KiB stream window: the node must send WINDOW_UPDATEs for the rest.
    const chunk = Buffer.alloc(16_384, 0x61);
    let sent = 0;
    while (sent < 1 << 20) {
      const stream = c.of(T.WINDOW_UPDATE, 1).reduce((n, f) => n + f.payload.readUInt32BE(0), 65_535);
      if (sent + chunk.length > stream) { await new Promise((r) => setTimeout(r, 5)); continue; }
      sent += chunk.length;
      c.write(frame(T.DATA, sent === 1 << 20 ? F.END_STREAM : 0, 1, chunk));
    }
    await waitFor(() => c.of(T.DATA, 1).length > 0, { timeout: 10_000, message: 'the answer' });
    t.is(Buffer.concat(c.of(T.DATA, 1).map((f) => f.payload)).toString(), String(1 << 20));
  } finally {
    c.close();
    up.respond = undefined;
  }
});

test.serial('SETTINGS from the client are acknowledged; a bad ENABLE_PUSH value is a connection error', async (t) => {
  const c = await RawH2.connect(gw.port);
  await waitFor(() => c.of(T.SETTINGS).some((f) => (f.flags & F.ACK) !== 0), { timeout: 5000, message: 'our SETTINGS acknowledged' });
  c.write(settings([[2, 7]]));
  await waitFor(() => c.closed, { timeout: 5000, message: 'closed' });
  t.is(c.goawayCode, PROTOCOL_ERROR);
});

test.serial('a flood of malformed requests (each reset by the node) closes the connection like a rapid reset; others are served', async (t) => {
  const c = await RawH2.connect(gw.port);
  const bad = requestBlock('/m', [['X-Upper', '1']]);
  let id = 1;
  for (let i = 0; i < 3000 && !c.closed; i++) {
    c.write(frame(T.HEADERS, F.END_STREAM | F.END_HEADERS, id, bad));
    id += 2;
    if (i % 50 === 49) await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => c.closed, { timeout: 10_000, message: 'the flooding connection closed' });
  t.is(c.goawayCode, 11, 'ENHANCE_YOUR_CALM');
  t.true(c.of(T.RST_STREAM).length < 3000, 'cut before it sent them all');
  const other = await RawH2.connect(gw.port);
  try { await served(t, other, 1); } finally { other.close(); }
});

test.serial('frames a client sent on a stream before the node reset it (its trailers, its body) are ignored; the connection goes on', async (t) => {
  const c = await RawH2.connect(gw.port);
  try {
    // Reset at once (malformed); the client's body and trailers were already on their way.
    c.write(Buffer.concat([
      frame(T.HEADERS, F.END_HEADERS, 1, requestBlock('/m', [['X-Upper', '1']], 'POST')),
      frame(T.DATA, 0, 1, Buffer.from('body')),
      frame(T.HEADERS, F.END_STREAM | F.END_HEADERS, 1, literal('x-trailer', '1')),
    ]));
    await waitFor(() => c.of(T.RST_STREAM, 1).length > 0, { timeout: 5000, message: 'stream 1 reset' });
    await served(t, c, 3);
    t.false(c.closed);
    t.is(c.goaway, undefined);
  } finally { c.close(); }
});
