/**
 * A real upstream HTTP server for tests that records exactly what it received (method,
 * raw target, raw headers, body) and can be told to fail, hang or recover.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received { method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: Buffer }
export type Mode = { kind: 'ok' } | { kind: 'status'; status: number } | { kind: 'hang' } | { kind: 'reset' } | { kind: 'slow'; ms: number };

export interface TestUpstream {
  url: string;
  port: number;
  received: Received[];
  /** Change behaviour for the next requests. */
  mode: Mode;
  /** Custom responder; default echoes a JSON summary. */
  respond?: (req: Received, res: http.ServerResponse) => void;
  close(): Promise<void>;
}

export async function startUpstream(opts: { respond?: TestUpstream['respond'] } = {}): Promise<TestUpstream> {
  const received: Received[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const up: TestUpstream = { url: '', port: 0, received, mode: { kind: 'ok' }, close: async () => undefined };
  if (opts.respond) up.respond = opts.respond;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) };
      received.push(r);
      const m = up.mode;
      if (m.kind === 'hang') return;
      if (m.kind === 'reset') { req.socket.destroy(); return; }
      const send = (): void => {
        if (m.kind === 'status') { res.writeHead(m.status, { 'content-type': 'text/plain' }); res.end(`status ${m.status}`); return; }
        if (up.respond) return up.respond(r, res);
        const body = JSON.stringify({ method: r.method, url: r.url, headers: r.headers, body: r.body.toString('utf8') });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (m.kind === 'slow') setTimeout(send, m.ms); else send();
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  up.port = port;
  up.url = `http://127.0.0.1:${port}`;
  up.close = () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); });
  return up;
}
