/**
 * gRPC calls over the HTTP/2 pool against a real Node HTTP/2 server that answers each way a
 * gRPC server (or something that is not one) can: messages split across DATA frames,
 * trailers-only, a status from another HTTP status, an oversize or compressed message, no
 * status at all, and a deadline. The happy paths against real gRPC servers (grpc-js and
 * Python grpcio) are in test/conversion.
 */
import test from 'ava';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { GrpcCall, GrpcPools, type GrpcStatus } from './grpc-call.ts';
import { H2Pool } from './pool.ts';

type Answer = (s: http2.ServerHttp2Stream, body: Buffer, headers: http2.IncomingHttpHeaders) => void;

async function server(answer: Answer): Promise<{ url: string; close: () => Promise<void> }> {
  const srv = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  srv.on('session', (s) => { sessions.add(s); s.once('close', () => sessions.delete(s)); });
  srv.on('stream', (s: http2.ServerHttp2Stream, headers) => {
    s.on('error', () => {});
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.on('end', () => answer(s, Buffer.concat(got), headers));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => { for (const s of sessions) s.destroy(); srv.close(() => r()); }) };
}

function frame(msg: Buffer, flag = 0): Buffer {
  const h = Buffer.alloc(5);
  h[0] = flag;
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
}

interface Seen { md?: Record<string, string>; messages: string[]; status: GrpcStatus }

async function call(answer: Answer, messages: Buffer[], opts: { max?: number; timeout?: number } = {}): Promise<Seen> {
  const up = await server(answer);
  const pools = new GrpcPools();
  try {
    return await new Promise<Seen>((resolve) => {
      const seen: Partial<Seen> & { messages: string[] } = { messages: [] };
      const c = new GrpcCall({
        onMetadata(md) { seen.md = md; },
        onMessage(m) { seen.messages.push(m.toString()); },
        onStatus(st) { seen.status = st; resolve(seen as Seen); },
      }, opts.max ?? 1024);
      c.start(pools.get(up.url), '/pkg.Svc/Method', ['x-request-id', 'r1', 'x-custom', 'a'], messages, opts.timeout ?? 5000);
    });
  } finally {
    pools.close();
    await up.close();
  }
}

test('request: framed messages, gRPC headers and metadata; response: messages split across DATA frames, then the trailers', async (t) => {
  let req: { body: Buffer; headers: http2.IncomingHttpHeaders } | undefined;
  const seen = await call((s, body, headers) => {
    req = { body, headers };
    s.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-head': 'h' }, { waitForTrailers: true });
    s.once('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0', 'x-tail': 't' }));
    const all = Buffer.concat([frame(Buffer.from('one')), frame(Buffer.from('two'))]);
    s.write(all.subarray(0, 6));
    setTimeout(() => s.end(all.subarray(6)), 10);
  }, [Buffer.from('a'), Buffer.from('bc')]);
  t.deepEqual(req!.body, Buffer.concat([frame(Buffer.from('a')), frame(Buffer.from('bc'))]));
  t.is(req!.headers['content-type'], 'application/grpc');
  t.is(req!.headers.te, 'trailers');
  t.is(req!.headers['grpc-timeout'], '5000m');
  t.is(req!.headers['x-custom'], 'a');
  t.deepEqual(seen.messages, ['one', 'two']);
  t.is(seen.md?.['x-head'], 'h');
  t.is(seen.status.code, 0);
  t.is(seen.status.trailers['x-tail'], 't');
});

test('trailers-only: the status in the head, grpc-message percent-decoded', async (t) => {
  const seen = await call((s) => { s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'no%20such%20user' }, { endStream: true }); }, [Buffer.from('a')]);
  t.is(seen.status.code, 5);
  t.is(seen.status.details, 'no such user');
  t.deepEqual(seen.messages, []);
});

test('another HTTP status maps to its gRPC code; a non-gRPC content type is UNKNOWN', async (t) => {
  const cases: Array<[number, string, number]> = [[404, 'application/grpc', 12], [401, 'application/grpc', 16], [503, 'text/plain', 14], [200, 'text/html', 2]];
  for (const [status, type, code] of cases) {
    const seen = await call((s) => { s.respond({ ':status': status, 'content-type': type }); s.end('not grpc'); }, [Buffer.from('a')]);
    t.is(seen.status.code, code, `${status} ${type}`);
    t.is(seen.md, undefined, 'no metadata from a head that is not gRPC');
  }
});

test('a message over the size limit cancels the call with RESOURCE_EXHAUSTED; a compressed one is INTERNAL', async (t) => {
  const big = await call((s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.once('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(frame(Buffer.alloc(2000)));
  }, [Buffer.from('a')], { max: 1000 });
  t.is(big.status.code, 8);
  t.regex(big.status.details, /larger than max/);
  t.deepEqual(big.messages, []);
  const zipped = await call((s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.once('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(frame(Buffer.from('x'), 1));
  }, [Buffer.from('a')]);
  t.is(zipped.status.code, 13);
});

test('a response that ends without grpc-status is UNKNOWN; one cut inside a message is INTERNAL', async (t) => {
  const none = await call((s) => { s.respond({ ':status': 200, 'content-type': 'application/grpc' }); s.end(frame(Buffer.from('x'))); }, [Buffer.from('a')]);
  t.is(none.status.code, 2);
  const cut = await call((s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.once('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(frame(Buffer.from('hello')).subarray(0, 7));
  }, [Buffer.from('a')]);
  t.is(cut.status.code, 13);
});

test('the deadline: DEADLINE_EXCEEDED before the head and after it', async (t) => {
  const before = await call(() => { /* never answers */ }, [Buffer.from('a')], { timeout: 150 });
  t.is(before.status.code, 4);
  const after = await call((s) => { s.respond({ ':status': 200, 'content-type': 'application/grpc' }); s.write(frame(Buffer.from('one'))); }, [Buffer.from('a')], { timeout: 150 });
  t.is(after.status.code, 4);
  t.deepEqual(after.messages, ['one']);
});

test('a target that refuses connections is UNAVAILABLE, with no metadata', async (t) => {
  const up = await server(() => {});
  const url = up.url;
  await up.close();
  const pools = new GrpcPools();
  try {
    const st = await new Promise<GrpcStatus>((resolve) => {
      const c = new GrpcCall({ onMetadata() { t.fail('no metadata'); }, onMessage() { t.fail('no message'); }, onStatus: resolve }, 1024);
      c.start(pools.get(url), '/pkg.Svc/Method', [], [Buffer.from('a')], 2000);
      t.true(c.headless);
    });
    t.is(st.code, 14);
  } finally { pools.close(); }
});

test('the pool: an h2c/h2 target\'s own (its upstream\'s settings); one per URL otherwise, IPv6 included', (t) => {
  const pools = new GrpcPools();
  try {
    const own = new H2Pool('h2c://127.0.0.1:1', { connectTimeout: 1000, headersTimeout: 1000, bodyTimeout: 1000 });
    t.is(pools.forTarget({ url: 'h2c://127.0.0.1:1', h1: own }), own);
    const a = pools.forTarget({ url: 'http://127.0.0.1:2', h1: {} });
    t.is(pools.get('http://127.0.0.1:2'), a, 'one pool per URL');
    t.is(a.origin, 'h2c://127.0.0.1:2');
    t.is(pools.get('https://grpc.example:8443').origin, 'h2://grpc.example:8443');
    t.is(pools.get('http://[::1]:50051').origin, 'h2c://[::1]:50051');
    void own.close();
  } finally { pools.close(); }
});
