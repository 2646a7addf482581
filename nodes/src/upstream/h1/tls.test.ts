/**
 * H1Pool over TLS against a real https server with a certificate made for the test by
 * openssl (a throwaway CA-less self-signed certificate for localhost / 127.0.0.1). TLS
 * sockets are read through 'data' events (the parser consumes plain TCP handles only), so
 * this file is also what covers that path.
 */
import test, { type ExecutionContext } from 'ava';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { H1Pool, type H1Control, type H1Request } from './pool.ts';
import { selfSignedLocalhost } from '../../../../test/protocols/certs.ts';

const { key, cert } = selfSignedLocalhost();

interface Result { status: number; body: Buffer; error: (Error & { code?: string }) | undefined }

function send(pool: H1Pool, req: Partial<H1Request> = {}, onData?: (chunk: Buffer, resume: () => void) => boolean): Promise<Result> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let control: H1Control | undefined;
    const r: Result = { status: 0, body: Buffer.alloc(0), error: undefined };
    pool.dispatch({ method: 'GET', path: '/', headers: [], body: null, ...req }, {
      onConnect(c) { control = c; },
      onHeaders(status) { r.status = status; return true; },
      onData(chunk) { chunks.push(chunk); return onData ? onData(chunk, () => control!.resume()) : true; },
      onComplete(tail) { if (tail) chunks.push(tail); r.body = Buffer.concat(chunks); resolve(r); },
      onError(err) { r.error = err; resolve(r); },
    });
  });
}

async function server(t: ExecutionContext, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  let connections = 0;
  const sockets = new Set<Socket>();
  const s = https.createServer({ key, cert }, handler);
  s.on('secureConnection', (sock: Socket) => { connections++; sockets.add(sock); sock.once('close', () => sockets.delete(sock)); });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  t.teardown(async () => {
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((r) => s.close(() => r()));
  });
  return { port: (s.address() as AddressInfo).port, connections: () => connections };
}

function pool(t: ExecutionContext, origin: string, ca: Buffer | undefined): H1Pool {
  const p = new H1Pool(origin, { connections: 4, connectTimeout: 2000, headersTimeout: 5000, bodyTimeout: 5000, keepAliveTimeout: 4000, ca });
  t.teardown(() => p.destroy());
  return p;
}

test('https target: round trips over one kept-alive TLS connection, by name and by IP', async (t) => {
  const srv = await server(t, (req, res) => { res.end(`${req.method} ${req.url} host=${req.headers.host}`); });
  const byName = pool(t, `https://localhost:${srv.port}`, cert);
  for (const path of ['/a', '/b?x=1', '/c']) {
    const r = await send(byName, { path });
    t.is(r.error, undefined);
    t.is(r.body.toString(), `GET ${path} host=localhost:${srv.port}`);
  }
  t.is(srv.connections(), 1);
  const byIp = pool(t, `https://127.0.0.1:${srv.port}`, cert);
  t.is((await send(byIp, { path: '/ip' })).body.toString(), `GET /ip host=127.0.0.1:${srv.port}`);
});

test('https target: a streamed request body (chunked) and a large chunked response arrive whole; backpressure holds', async (t) => {
  const big = Buffer.alloc(2 * 1024 * 1024, 'abcdefghij');
  const srv = await server(t, (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      if (req.url === '/echo') { res.end(Buffer.concat(parts)); return; }
      res.writeHead(200); // chunked
      let sent = 0;
      const more = (): void => {
        while (sent < big.length) {
          const ok = res.write(big.subarray(sent, sent + 65536));
          sent += 65536;
          if (!ok) { res.once('drain', more); return; }
        }
        res.end();
      };
      more();
    });
  });
  const p = pool(t, `https://localhost:${srv.port}`, cert);
  const payload = Buffer.alloc(300_000, 'xyz');
  const echoed = await send(p, { method: 'POST', path: '/echo', body: Readable.from([payload.subarray(0, 100_000), payload.subarray(100_000)]) });
  t.is(echoed.status, 200);
  t.true(echoed.body.equals(payload));

  // Pause once, on the first chunk, for 100 ms.
  let paused = false;
  let pausedOnce = false;
  let whilePaused = 0;
  const r = await send(p, { path: '/big' }, (_chunk, resume) => {
    if (paused) whilePaused++;
    if (!pausedOnce) {
      pausedOnce = paused = true;
      setTimeout(() => { paused = false; resume(); }, 100);
      return false;
    }
    return true;
  });
  t.true(pausedOnce);
  t.is(whilePaused, 0, 'no chunk while paused');
  t.true(r.body.equals(big));
});

test('https target with a certificate nobody vouches for: a TLS error, nothing delivered', async (t) => {
  const srv = await server(t, (_req, res) => { res.end('should not be read'); });
  const r = await send(pool(t, `https://localhost:${srv.port}`, undefined));
  t.is(r.status, 0);
  t.truthy(r.error);
  t.regex(String(r.error!.code), /CERT|SELF_SIGNED/);
});
