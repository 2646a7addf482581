/**
 * The HTTP/2 pool's streamed request bodies against a real Node HTTP/2 server: the body
 * arrives whole, and the pool's listeners leave the client's stream once the body ended or
 * the call failed (a finished HTTP/2 server stream can outlive its request by several
 * scavenges; listeners left on it kept the whole call alive with it).
 */
import test from 'ava';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { H2Pool } from './pool.ts';
import type { H1Control } from '../h1/pool.ts';

const EVENTS = ['data', 'end', 'error', 'close'] as const;

async function server(onStream: (s: http2.ServerHttp2Stream) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const srv = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  srv.on('session', (s) => { sessions.add(s); s.once('close', () => sessions.delete(s)); });
  srv.on('stream', (s: http2.ServerHttp2Stream) => { s.on('error', () => {}); onStream(s); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  return { url: `h2c://127.0.0.1:${port}`, close: () => new Promise((r) => { for (const s of sessions) s.destroy(); srv.close(() => r()); }) };
}

interface Outcome { status?: number; body: Buffer; error?: Error }

function call(pool: H2Pool, body: PassThrough): Promise<Outcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const out: Outcome = { body: Buffer.alloc(0) };
    pool.dispatch({ method: 'POST', path: '/echo', headers: ['content-type', 'application/octet-stream'], body, headersTimeout: 5000 }, {
      onConnect(_c: H1Control) { /* nothing to keep */ },
      onHeaders(status: number) { out.status = status; return true; },
      onData(chunk: Buffer) { chunks.push(chunk); return true; },
      onComplete(tail?: Buffer) { if (tail) chunks.push(tail); out.body = Buffer.concat(chunks); resolve(out); },
      onError(err: Error) { out.error = err; resolve(out); },
    });
  });
}

const listeners = (s: PassThrough): number[] => EVENTS.map((e) => s.listenerCount(e));

test('a streamed body arrives whole, and the pool leaves the source stream once it ended', async (t) => {
  const up = await server((s) => {
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.on('end', () => { s.respond({ ':status': 200 }); s.end(Buffer.concat(got)); });
  });
  const pool = new H2Pool(up.url, { connectTimeout: 2000, headersTimeout: 5000, bodyTimeout: 5000 });
  try {
    const src = new PassThrough();
    const before = listeners(src);
    const pending = call(pool, src);
    src.write('hello, ');
    await new Promise((r) => setTimeout(r, 20));
    t.true(src.listenerCount('data') > before[0]!, 'the pool reads the body while it streams');
    src.end('world');
    const out = await pending;
    t.is(out.status, 200);
    t.is(out.body.toString(), 'hello, world');
    t.deepEqual(listeners(src), before, 'no listener of the pool is left on the source');
  } finally {
    await pool.close();
    await up.close();
  }
});

test('a call the server resets before the body ended leaves no listener on the source either', async (t) => {
  const up = await server((s) => { s.once('data', () => { s.close(http2.constants.NGHTTP2_INTERNAL_ERROR); }); });
  const pool = new H2Pool(up.url, { connectTimeout: 2000, headersTimeout: 5000, bodyTimeout: 5000 });
  try {
    const src = new PassThrough();
    // The gateway's client streams always have an error listener (listeners/h2.ts).
    src.on('error', () => {});
    const before = listeners(src);
    const pending = call(pool, src);
    src.write('part of a body');
    const out = await pending;
    t.truthy(out.error, 'the reset reaches the handler as an error');
    t.deepEqual(listeners(src), before);
    // The source may still end or fail later: nothing of the finished call reacts.
    src.end('the rest');
    src.destroy(new Error('late'));
    await new Promise((r) => setTimeout(r, 20));
    t.pass();
  } finally {
    await pool.close();
    await up.close();
  }
});
