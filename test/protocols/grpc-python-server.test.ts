/**
 * gRPC pass-through the other way round from grpc.test.ts: an @grpc/grpc-js client, through
 * the gateway (h2c), to Debian's python3-grpcio server (grpc-server.py, a separate process)
 * on an h2c:// target. Unary and server-streaming calls, the Python server's trailers and
 * status (grpc-status / grpc-message) passed through, and grpc-timeout forwarded and applied.
 */
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { fileURLToPath } from 'node:url';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { spawnTracked, killTracked, type Tracked } from '../helpers/child.ts';
import { waitFor } from '../helpers/wait.ts';

const script = fileURLToPath(new URL('./grpc-server.py', import.meta.url));
const raw = (b: Buffer): Buffer => b;
let py: Tracked;
let pyPort = 0;
let gw: TestGateway;
let client: grpc.Client;

test.before(async () => {
  // Debian's python3 (with python3-grpcio), not the first python3 on PATH.
  py = spawnTracked('/usr/bin/python3', ['-u', script]);
  await waitFor(() => /PORT (\d+)/.test(py.output()) || py.child.exitCode !== null, { timeout: 20_000, message: 'python gRPC server listening' });
  const m = /PORT (\d+)/.exec(py.output());
  if (!m) throw new Error(`python gRPC server did not start: ${py.output()}`);
  pyPort = Number(m[1]);
  gw = await startGateway({
    node: { http2: { cleartext: true } },
    upstreams: { py: { targets: [{ url: `h2c://127.0.0.1:${pyPort}` }] } },
    routes: { py: { match: { paths: ['/py.Echo/*'] }, upstream: 'py' } },
  });
  client = new grpc.Client(`127.0.0.1:${gw.port}`, grpc.credentials.createInsecure());
});
test.after.always(async () => {
  client?.close();
  await gw?.stop();
  if (py) await killTracked(py, 'SIGTERM');
});

interface Unary { err: grpc.ServiceError | null; reply: Buffer | undefined; trailers: grpc.Metadata | undefined; ms: number }

function unary(method: string, body: string, deadlineMs = 10_000): Promise<Unary> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    let reply: Buffer | undefined;
    let err: grpc.ServiceError | null = null;
    const call = client.makeUnaryRequest(`/py.Echo/${method}`, raw, raw, Buffer.from(body), new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (e, r) => { err = e; reply = r; });
    call.on('status', (s: grpc.StatusObject) => { setImmediate(() => { resolve({ err, reply, trailers: s.metadata, ms: Date.now() - t0 }); }); });
  });
}

test('unary: the python server answers through the gateway; its trailing metadata arrive; grpc-timeout is forwarded', async (t) => {
  const r = await unary('Unary', 'hello', 8000);
  t.is(r.err, null);
  const body = JSON.parse(r.reply!.toString()) as { reply: string; remaining: number };
  t.is(body.reply, 'py:hello');
  // The server saw the client's deadline: the gateway forwarded grpc-timeout.
  t.true(body.remaining > 5 && body.remaining <= 8, `server-side time remaining ${body.remaining}`);
  t.deepEqual(r.trailers!.get('x-py-trailer'), ['from-python']);
});

test('server streaming: every message arrives in order, then status OK', async (t) => {
  const got: string[] = [];
  const status = await new Promise<grpc.StatusObject>((resolve) => {
    const call = client.makeServerStreamRequest('/py.Echo/ServerStream', raw, raw, Buffer.from('25'), new grpc.Metadata(), { deadline: Date.now() + 10_000 });
    call.on('data', (b: Buffer) => got.push(b.toString()));
    call.on('error', () => { /* the status event reports it */ });
    call.on('status', resolve);
  });
  t.is(status.code, grpc.status.OK);
  t.deepEqual(got, Array.from({ length: 25 }, (_, i) => `p${i}`));
});

test('the python server\'s status, message (percent-encoded on the wire) and trailers pass through', async (t) => {
  const r = await unary('Fail', '');
  t.is(r.err?.code, grpc.status.NOT_FOUND);
  t.is(r.err?.details, 'no such thing: caf\u00e9 100%');
  t.deepEqual(r.trailers!.get('x-py-trailer'), ['failed']);
});

test('a deadline ends the call at the client in time and the python server lets go of it', async (t) => {
  const before = (py.output().match(/SLOW-ENDED/g) ?? []).length;
  const r = await unary('Slow', '', 500);
  t.is(r.err?.code, grpc.status.DEADLINE_EXCEEDED);
  t.true(r.ms < 2000, `took ${r.ms} ms`);
  await waitFor(() => (py.output().match(/SLOW-ENDED/g) ?? []).length > before, { timeout: 5000, message: 'the python server saw the call end' });
  const ended = [...py.output().matchAll(/SLOW-ENDED ([\d.]+) active=(\w+)/g)].pop()!;
  // Ended by the deadline (not its own 5 s sleep), and no longer active.
  t.true(Number(ended[1]) < 2, `server held the call ${ended[1]} s`);
  t.is(ended[2], 'False');
});

test('a client without its own deadline timer still gets DEADLINE_EXCEEDED in time from grpc-timeout', async (t) => {
  // grpc-js ends a call at its deadline by itself; a raw HTTP/2 client sends grpc-timeout
  // and waits for as long as it takes, so the call must be ended on the far side: by the
  // gateway's own timer (h2/pool.ts) or the Python server's, which both read the header.
  const http2 = await import('node:http2');
  const s = http2.connect(`http://127.0.0.1:${gw.port}`);
  try {
    const t0 = Date.now();
    const res = await new Promise<{ status: string | undefined; ms: number }>((resolve, reject) => {
      const frame = Buffer.alloc(5);
      const st = s.request({ ':method': 'POST', ':path': '/py.Echo/Slow', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '400m' });
      let status: string | undefined;
      st.on('response', (h) => { if (h['grpc-status'] !== undefined) status = String(h['grpc-status']); });
      st.on('trailers', (h) => { status = String(h['grpc-status']); });
      st.on('data', () => undefined);
      st.on('close', () => { resolve({ status, ms: Date.now() - t0 }); });
      st.on('error', reject);
      st.end(frame);
    });
    t.is(res.status, '4');
    t.true(res.ms < 2500, `took ${res.ms} ms`);
  } finally { s.close(); }
});
