/**
 * WebSocket over HTTP/1.1 (RFC 6455 Upgrade) on routes with `websocket: true`.
 *
 * The upgrade request goes through the ordinary pipeline first (a ServerResponse is put on
 * the socket, so ip-restriction, auth, acl and rate-limit answer with their usual local
 * replies); only when every request-phase policy passed does the pipeline call `tunnel`
 * instead of the HTTP forward. The tunnel opens its own connection to a target of the
 * route's upstream, sends the handshake with the gateway's headers (X-Forwarded-*,
 * X-Request-Id, identity headers), and on 101 splices the two sockets. Any other answer is
 * relayed as is and the connection closed.
 *
 * Per node: a cap on open tunnels (503 past it), an idle timeout on both sockets, bytes
 * in/out counted when a tunnel closes, and on drain (SIGTERM) a close frame 1001 (going
 * away) to both ends. http-proxy-3 is not used: docs/decisions/0008-websocket-tunnel.md.
 */
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Counter, Gauge } from 'prom-client';
import type { RequestContext } from '../request/context.ts';
import type { Runtime } from './runtime.ts';
import type { UpstreamRuntime } from '../upstream/upstream.ts';
import { forwardableRequestHeaders } from '../http/headers.ts';
import { pushForwarded } from '../http/client-ip.ts';
import { sendReply } from './reply.ts';
import { finish } from './finish.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { upstreamPath } from '../request/upstream-path.ts';
import { performance } from 'node:perf_hooks';

export interface WsSettings { maxConnections: number; idleMs: number }
export const WS_DEFAULTS = { maxConnections: 10_000, idleTimeout: '5m' } as const;

const MAX_HEAD = 16 * 1024;
/** Close frame 1001 (going away): server → client unmasked; client → server masked with a zero key. */
const CLOSE_TO_CLIENT = Buffer.from([0x88, 0x02, 0x03, 0xe9]);
const CLOSE_TO_UPSTREAM = Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe9]);

/** `h2`: the client is an HTTP/2 stream (RFC 8441): answered 200 through the compat response, no raw head. */
interface Pending { socket: Duplex; head: Buffer; front: WebSocketFront; h2: boolean }
const PENDING = new WeakMap<http.IncomingMessage, Pending>();

export function isWebSocketUpgrade(req: http.IncomingMessage): boolean {
  const u = req.headers.upgrade;
  return u !== undefined && u.toLowerCase() === 'websocket';
}

interface Tunnel { client: Duplex; upstream: net.Socket; ctx: RequestContext; rt: Runtime }

export class WebSocketFront {
  private readonly settings: WsSettings;
  readonly tunnels = new Set<Tunnel>();
  readonly open: Gauge;
  readonly bytes: Counter<'direction'>;
  readonly refused: Counter<'reason'>;
  draining = false;

  constructor(settings: WsSettings, metrics: Metrics) {
    this.settings = settings;
    const tunnels = this.tunnels;
    this.open = metrics.gauge('gatehouse_websocket_connections', 'Open WebSocket tunnels on this process.', [], function collect() { this.set(tunnels.size); });
    this.bytes = metrics.counter('gatehouse_websocket_bytes_total', 'Bytes through WebSocket tunnels, by direction (in: from clients, out: to clients), counted when a tunnel closes.', ['direction']);
    this.refused = metrics.counter('gatehouse_websocket_refused_total', 'WebSocket upgrades refused by the node, by reason (limit, route).', ['reason']);
  }

  /** Route WebSocket upgrades of `proxy` into `handler` (the pipeline); other Upgrade requests stay ordinary requests. */
  attach(proxy: http.Server, handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): void {
    (proxy as http.Server & { shouldUpgradeCallback: (req: http.IncomingMessage) => boolean }).shouldUpgradeCallback = isWebSocketUpgrade;
    proxy.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => { socket.destroy(); });
      if (this.draining || this.tunnels.size >= this.settings.maxConnections) {
        this.refused.labels('limit').inc();
        socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      const res = new http.ServerResponse(req);
      res.assignSocket(socket as net.Socket);
      res.shouldKeepAlive = false;
      // A local reply (401, 403, 429, ...) ends the connection: nothing else may follow on it.
      res.once('finish', () => { socket.end(); });
      PENDING.set(req, { socket, head, front: this, h2: false });
      handler(req, res);
    });
  }

  /** An RFC 8441 WebSocket stream (listeners/h2.ts): the same pipeline, then a tunnel over the stream. */
  acceptH2(req: http.IncomingMessage, res: http.ServerResponse, handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): void {
    const stream = (req as unknown as { stream: Duplex }).stream;
    if (this.draining || this.tunnels.size >= this.settings.maxConnections) {
      this.refused.labels('limit').inc();
      res.writeHead(503, { 'content-type': 'application/problem+json', 'content-length': '0' });
      res.end();
      return;
    }
    stream.on('error', () => { stream.destroy(); });
    PENDING.set(req, { socket: stream, head: Buffer.alloc(0), front: this, h2: true });
    handler(req, res);
  }

  /** SIGTERM: close frame 1001 to both ends of every tunnel; sockets end shortly after. */
  drain(): void {
    this.draining = true;
    for (const t of this.tunnels) {
      t.client.write(CLOSE_TO_CLIENT);
      t.upstream.write(CLOSE_TO_UPSTREAM);
      setTimeout(() => { t.client.destroy(); t.upstream.destroy(); }, 1000).unref();
    }
  }

  get idleMs(): number { return this.settings.idleMs; }
}

/** Called by the pipeline instead of the HTTP forward for an upgrade request whose policies all passed. */
export function tunnel(rt: Runtime, ctx: RequestContext, up: UpstreamRuntime): void {
  const p = PENDING.get(ctx.req);
  if (p === undefined) { sendReply(rt, ctx, { code: 'GW_BAD_REQUEST', detail: 'Upgrade is not supported here' }); return; }
  PENDING.delete(ctx.req);
  const route = ctx.route!;
  if ((rt.snapshot?.config.routes?.[route.name] as { websocket?: boolean } | undefined)?.websocket !== true) {
    p.front.refused.labels('route').inc();
    sendReply(rt, ctx, { code: 'GW_BAD_REQUEST', detail: 'WebSocket is not enabled on this route' });
    return;
  }
  const target = up.pick(ctx);
  if (!target) { sendReply(rt, ctx, up.noTargetReply()); return; }
  const u = new URL(target.url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') { sendReply(rt, ctx, { code: 'GW_UPSTREAM_UNAVAILABLE', detail: 'WebSocket needs an http:// or https:// target' }); return; }
  const req = ctx.req;
  const h: string[] = [];
  forwardableRequestHeaders(req.headers, h, ctx.dropHeaders);
  const host = ctx.authority || ctx.host;
  h.push('host', up.preserveHost ? host : target.hostHeader);
  pushForwarded(h, req, rt.trusted, host);
  h.push('x-request-id', ctx.id);
  const extra = ctx.upstreamHeaders;
  if (extra) for (const k in extra) { const i = h.indexOf(k); if (i >= 0 && i % 2 === 0) h[i + 1] = extra[k]!; else h.push(k, extra[k]!); }
  h.push('connection', 'Upgrade', 'upgrade', 'websocket');
  let head = `GET ${upstreamPath(ctx)} HTTP/1.1\r\n`;
  for (let i = 0; i < h.length; i += 2) {
    const v = h[i + 1]!;
    // Values a policy set are checked here: no CR/LF may reach the upstream's parser.
    if (/[\r\n\0]/.test(v)) { sendReply(rt, ctx, { code: 'GW_BAD_REQUEST' }); return; }
    head += `${h[i]}: ${v}\r\n`;
  }
  head += '\r\n';
  const port = Number(u.port) || (u.protocol === 'https:' ? 443 : 80);
  const hostname = u.hostname.replace(/^\[|\]$/g, '');
  const o = up.poolOptions;
  const sock: net.Socket = u.protocol === 'https:'
    ? tls.connect({ host: hostname, port, ALPNProtocols: ['http/1.1'], servername: o.servername ?? (net.isIP(hostname) ? undefined : hostname), ...(o.ca ? { ca: [...tls.rootCertificates, o.ca.toString()] } : {}) })
    : net.connect({ host: hostname, port });
  target.inflight++;
  ctx.target = target.origin;
  let settled = false;
  const fail = (code: 'GW_UPSTREAM_UNAVAILABLE' | 'GW_UPSTREAM_TIMEOUT'): void => {
    if (settled) return;
    settled = true;
    target.inflight--;
    clearTimeout(timer);
    sock.destroy();
    rt.metrics.upstreamErrors.labels(up.name, code).inc();
    sendReply(rt, ctx, { code });
  };
  const timer = setTimeout(() => { fail('GW_UPSTREAM_TIMEOUT'); }, o.connectTimeout + up.responseTimeout);
  sock.once('error', () => { fail('GW_UPSTREAM_UNAVAILABLE'); });
  sock.once(u.protocol === 'https:' ? 'secureConnect' : 'connect', () => { sock.write(head); if (p.head.length) sock.write(p.head); });
  let buf: Buffer = Buffer.alloc(0);
  const onData = (d: Buffer): void => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) { if (buf.length > MAX_HEAD) fail('GW_UPSTREAM_UNAVAILABLE'); return; }
    sock.off('data', onData);
    settled = true;
    clearTimeout(timer);
    const status = Number(buf.toString('latin1', 9, 12));
    const client = p.socket;
    ctx.upstreamEnd = performance.now();
    ctx.status = status;
    if (p.h2) { answerH2(rt, ctx, p.front, sock, buf, end, () => { target.inflight--; }); return; }
    ctx.res.detachSocket(client as net.Socket);
    client.write(buf);
    if (status !== 101) {
      // Refused by the upstream: relay its answer and close.
      sock.pipe(client);
      sock.once('close', () => { target.inflight--; client.destroy(); finish(rt, ctx); });
      return;
    }
    splice(rt, ctx, p.front, client, sock, () => { target.inflight--; });
  };
  sock.on('data', onData);
  ctx.upstreamStart = performance.now();
}

const NOT_ON_H2 = new Set(['connection', 'upgrade', 'sec-websocket-accept', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'content-length']);

/**
 * The upstream's handshake answer to an HTTP/2 client: 101 becomes 200 on the stream (RFC
 * 8441 §5) with the upstream's other headers (subprotocol, extensions), and the tunnel runs
 * over the stream; any other status is relayed without its body, and the stream ends.
 */
function answerH2(rt: Runtime, ctx: RequestContext, front: WebSocketFront, sock: net.Socket, buf: Buffer, end: number, done: () => void): void {
  const res = ctx.res;
  const status = ctx.status;
  const headers: Record<string, string> = {};
  for (const line of buf.toString('latin1', 0, end).split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const k = line.slice(0, i).trim().toLowerCase();
    if (!NOT_ON_H2.has(k)) headers[k] = line.slice(i + 1).trim();
  }
  if (status !== 101) {
    sock.destroy();
    done();
    res.writeHead(status, headers);
    res.end();
    finish(rt, ctx);
    return;
  }
  ctx.status = 200;
  res.writeHead(200, headers);
  const client = (ctx.req as unknown as { stream: Duplex }).stream;
  const rest = buf.subarray(end + 4);
  if (rest.length) client.write(rest);
  splice(rt, ctx, front, client, sock, done);
}

function splice(rt: Runtime, ctx: RequestContext, front: WebSocketFront, client: Duplex, upstream: net.Socket, done: () => void): void {
  const t: Tunnel = { client, upstream, ctx, rt };
  front.tunnels.add(t);
  const idle = front.idleMs;
  (client as net.Socket).setTimeout?.(idle);
  upstream.setTimeout(idle);
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    front.tunnels.delete(t);
    const c = client as net.Socket;
    // An HTTP/2 stream (RFC 8441) has no byte counts of its own: counted as they pass.
    front.bytes.labels('in').inc(c.bytesRead ?? streamIn);
    front.bytes.labels('out').inc(c.bytesWritten ?? streamOut);
    client.destroy();
    upstream.destroy();
    done();
    finish(rt, ctx);
  };
  client.on('timeout', close);
  upstream.on('timeout', close);
  client.on('close', close);
  upstream.on('close', close);
  client.on('error', close);
  upstream.on('error', close);
  let streamIn = 0;
  let streamOut = 0;
  if ((client as net.Socket).bytesRead === undefined) {
    client.on('data', (d: Buffer) => { streamIn += d.length; });
    upstream.on('data', (d: Buffer) => { streamOut += d.length; });
  }
  client.pipe(upstream);
  upstream.pipe(client);
  if (front.draining) { client.write(CLOSE_TO_CLIENT); upstream.write(CLOSE_TO_UPSTREAM); }
}
