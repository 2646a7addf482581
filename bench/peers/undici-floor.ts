/**
 * "The Node floor": the fastest honest reverse proxy we can write in plain Node —
 * http.createServer in front of an undici Pool, hop-by-hop headers dropped both ways,
 * backpressure and client aborts handled, nothing else. Gatehouse is judged against it.
 *
 * It uses undici's classic dispatch handler (onConnect/onHeaders/onData/onComplete) because
 * undici's HTTP/1 client calls exactly that shape: the newer controller-style handler is
 * adapted onto it by a wrapper, i.e. one more layer per request.
 */
import http from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { peerArgs, exitOnSignal } from './args.ts';

const { port, upstream } = peerArgs();
const pool = new Pool(upstream, { connections: 64, pipelining: 1, keepAliveTimeout: 60_000 });

// RFC 9110 §7.6.1 connection-specific headers, plus host (undici sets the upstream's).
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

class Forward implements Dispatcher.DispatchHandler {
  res: http.ServerResponse;
  abort: ((err?: Error) => void) | null = null;
  resume: (() => void) | null = null;
  done = false;

  constructor(res: http.ServerResponse) {
    this.res = res;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx informational: wait for the final response
    const out: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1');
      if (HOP.has(name.toLowerCase())) continue;
      out.push(name, raw[i + 1]!.toString('latin1'));
    }
    this.resume = resume;
    this.res.writeHead(statusCode, out);
    return true;
  }

  onData(chunk: Buffer): boolean {
    const ok = this.res.write(chunk);
    // Returning false pauses the upstream socket until the client drains.
    if (!ok && this.resume) this.res.once('drain', this.resume);
    return ok;
  }

  onComplete(): void {
    this.done = true;
    this.res.end();
  }

  onError(err: Error): void {
    this.done = true;
    if (this.res.headersSent) this.res.destroy(err);
    else this.res.writeHead(502, { 'content-length': '0' }).end();
  }
}

const server = http.createServer((req, res) => {
  const raw = req.rawHeaders;
  const headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP.has(raw[i]!.toLowerCase())) headers.push(raw[i]!, raw[i + 1]!);
  }
  const bodyless = req.method === 'GET' || req.method === 'HEAD';
  const handler = new Forward(res);
  // A client that goes away mid-response must not keep an upstream connection busy.
  res.once('close', () => { if (!handler.done) handler.abort?.(new Error('client closed')); });
  pool.dispatch({ method: req.method as Dispatcher.HttpMethod, path: req.url ?? '/', headers, body: bodyless ? null : req }, handler);
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1');
exitOnSignal();
