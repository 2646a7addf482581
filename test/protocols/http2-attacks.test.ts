/**
 * The HTTP/2 attack limits, each shown by sending the attack as raw frames (h2raw.ts) and
 * checking that the flooding connection is closed (or the stream refused), that it is
 * counted, and that another client is still served meanwhile.
 */
import test from 'ava';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { waitFor } from '../helpers/wait.ts';
import { curl } from './run.ts';
import { RawH2, frame, T, F, requestBlock, rst, literal, settings } from './h2raw.ts';

let up: TestUpstream;
let gw: TestGateway;

test.before(async () => {
  up = await startUpstream();
  up.respond = (r, res) => {
    if (r.url === '/big') { res.end('x'.repeat(200_000)); return; }
    res.end('ok');
  };
  gw = await startGateway({
    node: { http2: { cleartext: true, maxConcurrentStreams: 20, maxResetsPerSecond: 10, streamIdleTimeout: '500ms', sessionIdleTimeout: '2s' }, limits: { maxHeaderSize: 8192 } },
    upstreams: { u: { targets: [{ url: up.url }] } },
    routes: { all: { match: { paths: ['/*'] }, upstream: 'u' } },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });

async function metric(name: string, label: string): Promise<number> {
  const text = await (await fetch(`${gw.statusUrl}/metrics`)).text();
  const m = new RegExp(`^${name}\\{reason="${label}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** Another client on its own connection still gets its answer. */
async function othersServed(t: import('ava').ExecutionContext): Promise<void> {
  const r = await curl(['--http2-prior-knowledge', `${gw.url}/other`]);
  t.is(r.status, 200, 'another HTTP/2 client is served');
  const h1 = await curl(['--http1.1', `${gw.url}/other`]);
  t.is(h1.status, 200, 'an HTTP/1.1 client is served');
}

test.serial('a silent connection is closed after the session idle timeout; one that keeps sending frames stays', async (t) => {
  const silent = await RawH2.connect(gw.port);
  const busy = await RawH2.connect(gw.port);
  const start = Date.now();
  // PING every 300 ms: frames both ways (the ACKs), well under the control-frame limit.
  const pinger = setInterval(() => { busy.write(frame(T.PING, 0, 0, Buffer.alloc(8))); }, 300);
  try {
    await new Promise((r) => setTimeout(r, 1500));
    t.false(silent.closed, 'not closed before the timeout (2s)');
    await waitFor(() => silent.closed, { timeout: 5000, message: 'the silent connection closed' });
    t.true(Date.now() - start >= 2000, `closed after ${Date.now() - start} ms`);
    await new Promise((r) => setTimeout(r, 1500));
    t.false(busy.closed, 'a connection that keeps moving frames stays open past the timeout');
  } finally {
    clearInterval(pinger);
    silent.close();
    busy.close();
  }
});

test.serial('rapid reset (CVE-2023-44487): a connection resetting streams fast gets GOAWAY and is counted', async (t) => {
  up.mode = { kind: 'hold' };
  const c = await RawH2.connect(gw.port);
  const before = await metric('gatehouse_http2_connections_closed_total', 'rapid_reset');
  let id = 1;
  for (let i = 0; i < 2000 && !c.closed; i++) {
    c.write(Buffer.concat([frame(T.HEADERS, F.END_STREAM | F.END_HEADERS, id, requestBlock('/slow')), rst(id)]));
    id += 2;
    if (i % 20 === 19) await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => c.closed, { timeout: 10_000, message: 'the resetting connection closed' });
  // Ours (counted as rapid_reset) or Node's backstop (a protocol error) closed it.
  const after = await metric('gatehouse_http2_connections_closed_total', 'rapid_reset') + await metric('gatehouse_http2_connections_closed_total', 'protocol_error');
  t.true(after > before);
  up.mode = { kind: 'ok' };
  up.release();
  await othersServed(t);
});

test.serial('concurrent streams: streams past maxConcurrentStreams are refused, the connection lives', async (t) => {
  up.mode = { kind: 'hold' };
  const c = await RawH2.connect(gw.port);
  const parts: Buffer[] = [];
  for (let i = 0; i < 30; i++) parts.push(frame(T.HEADERS, F.END_STREAM | F.END_HEADERS, 1 + 2 * i, requestBlock('/held')));
  c.write(Buffer.concat(parts));
  await waitFor(() => c.of(T.RST_STREAM).filter((f) => f.payload.readUInt32BE(0) === 7).length >= 10, { timeout: 10_000, message: '10 REFUSED_STREAM' });
  await waitFor(() => up.held.length >= 20, { timeout: 10_000, message: '20 streams reached the upstream' });
  t.is(up.held.length, 20);
  t.false(c.closed);
  up.mode = { kind: 'ok' };
  up.release();
  await waitFor(() => c.of(T.HEADERS).length >= 20, { timeout: 10_000, message: 'the 20 admitted streams answered' });
  c.close();
  await othersServed(t);
});

test.serial('a header list over the limit gets 431 on its stream; the connection and others go on', async (t) => {
  const c = await RawH2.connect(gw.port);
  const blk = requestBlock('/h', [['x-big', 'a'.repeat(30_000)]]);
  // Over the default 16 KiB frame size: HEADERS + CONTINUATIONs.
  c.write(Buffer.concat([frame(T.HEADERS, F.END_STREAM, 1, blk.subarray(0, 15_000)), frame(T.CONTINUATION, 0, 1, blk.subarray(15_000, 30_000)), frame(T.CONTINUATION, F.END_HEADERS, 1, blk.subarray(30_000))]));
  c.write(frame(T.HEADERS, F.END_STREAM | F.END_HEADERS, 3, requestBlock('/small')));
  await waitFor(() => c.of(T.HEADERS, 3).length > 0 && (c.of(T.HEADERS, 1).length > 0 || c.of(T.RST_STREAM, 1).length > 0), { timeout: 10_000, message: 'both streams answered' });
  // 431 is not in HPACK's static table: it goes out as a literal value after the indexed ':status' name.
  const head1 = c.of(T.HEADERS, 1)[0];
  t.truthy(head1, 'the oversized stream got a response head');
  t.true(head1!.payload.includes(Buffer.from('431')), 'status 431');
  t.false(c.closed);
  c.close();
  await othersServed(t);
});

test.serial('CONTINUATION flood: an endless header block closes the connection', async (t) => {
  const c = await RawH2.connect(gw.port);
  const before = await metric('gatehouse_http2_connections_closed_total', 'continuation_flood');
  const parts: Buffer[] = [frame(T.HEADERS, F.END_STREAM, 1, requestBlock('/c'))];
  for (let i = 0; i < 5000; i++) parts.push(frame(T.CONTINUATION, 0, 1, literal(`x-a${i % 10}`, 'b')));
  c.write(Buffer.concat(parts));
  await waitFor(() => c.closed, { timeout: 10_000, message: 'the flooding connection closed' });
  t.true((await metric('gatehouse_http2_connections_closed_total', 'continuation_flood')) > before);
  await othersServed(t);
});

for (const kind of ['PING', 'SETTINGS'] as const) {
  test.serial(`${kind} flood: GOAWAY ENHANCE_YOUR_CALM, counted`, async (t) => {
    const c = await RawH2.connect(gw.port);
    const before = await metric('gatehouse_http2_connections_closed_total', 'control_flood');
    const one = kind === 'PING' ? frame(T.PING, 0, 0, Buffer.alloc(8)) : settings([]);
    c.write(Buffer.concat(Array.from({ length: 5000 }, () => one)));
    await waitFor(() => c.closed, { timeout: 10_000, message: 'the flooding connection closed' });
    t.is(c.goawayCode, 11);
    t.true((await metric('gatehouse_http2_connections_closed_total', 'control_flood')) > before);
    await othersServed(t);
  });
}

test.serial('window exhaustion: a stream that cannot move (window 0) is reset after the stream idle timeout', async (t) => {
  const before = await metric('gatehouse_http2_streams_reset_total', 'idle');
  const c = await RawH2.connect(gw.port, [[4 /* INITIAL_WINDOW_SIZE */, 0]]);
  c.write(frame(T.HEADERS, F.END_STREAM | F.END_HEADERS, 1, requestBlock('/big')));
  await waitFor(() => c.of(T.RST_STREAM, 1).length > 0, { timeout: 10_000, message: 'the stuck stream reset' });
  t.is(c.of(T.RST_STREAM, 1)[0]!.payload.readUInt32BE(0), 8, 'CANCEL');
  t.true((await metric('gatehouse_http2_streams_reset_total', 'idle')) > before);
  c.close();
  await othersServed(t);
});
