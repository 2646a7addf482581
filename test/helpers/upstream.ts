/**
 * A real upstream HTTP server for tests that records exactly what it received (method,
 * raw target, raw headers, body) and can be told to fail, hang or recover.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received { method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: Buffer }
export type Mode = { kind: 'ok' } | { kind: 'status'; status: number } | { kind: 'hang' } | { kind: 'reset' } | { kind: 'slow'; ms: number }
  /** Keep requests waiting until release() answers them (count what arrived while held). */
  | { kind: 'hold' };

export interface TestUpstream {
  url: string;
  port: number;
  received: Received[];
  /** Change behaviour for the next requests. */
  mode: Mode;
  /** Custom responder; default echoes a JSON summary. */
  respond?: (req: Received, res: http.ServerResponse) => void;
  /** Requests waiting in `hold` mode. */
  held: Array<{ req: Received; res: http.ServerResponse }>;
  /** Answer the held requests: with `status` (plain text), else as mode `ok` would. Returns how many. */
  release(status?: number): number;
  close(): Promise<void>;
}

export async function startUpstream(opts: { respond?: TestUpstream['respond'] } = {}): Promise<TestUpstream> {
  const received: Received[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const held: TestUpstream['held'] = [];
  const up: TestUpstream = { url: '', port: 0, received, mode: { kind: 'ok' }, held, release: () => 0, close: async () => undefined };
  const answer = (r: Received, res: http.ServerResponse, status?: number): void => {
    if (status !== undefined) { res.writeHead(status, { 'content-type': 'text/plain' }); res.end(`status ${status}`); return; }
    if (up.respond) return up.respond(r, res);
    const body = JSON.stringify({ method: r.method, url: r.url, headers: r.headers, body: r.body.toString('utf8') });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  up.release = (status) => {
    const all = held.splice(0);
    for (const h of all) if (!h.res.destroyed) answer(h.req, h.res, status);
    return all.length;
  };
  if (opts.respond) up.respond = opts.respond;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) };
      received.push(r);
      const m = up.mode;
      if (m.kind === 'hang') return;
      if (m.kind === 'hold') { held.push({ req: r, res }); return; }
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
