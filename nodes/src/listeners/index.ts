/**
 * The node's protocol listeners around the HTTP/1.1 proxy server (gateway.ts):
 * - node.http2.cleartext: the plain listener also takes h2c with prior knowledge. Each new
 *   connection's first bytes are compared with the HTTP/2 preface; a match goes to the
 *   HTTP/2 server, anything else to the HTTP/1.1 server (the bytes read are put back).
 * - node.tls: a TLS listener (SNI certificates from certs.ts, TLS 1.2+, ALPN h2 and
 *   http/1.1). After the handshake an `h2` connection goes to the HTTP/2 server, the rest to
 *   the same HTTP/1.1 server as plaintext, so limits, timeouts and draining are shared.
 * Every path ends in the one request handler: one pipeline for every protocol.
 */
import type http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { NodeSettings } from '../schema/model.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { parseDuration } from '../schema/duration.ts';
import { CertStore } from './certs.ts';
import { H2Front, H2_DEFAULTS, type Handler } from './h2.ts';
import type { ServerSession } from './h2-wire.ts';
import { CLIENT_CERT, judgeClientCert, type ClientAuthMode } from '../http/client-cert.ts';
import { WebSocketFront, WS_DEFAULTS } from '../pipeline/websocket.ts';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export class Listeners {
  private readonly node: NodeSettings;
  private readonly baseDir: string;
  private readonly logger: Logger;
  private readonly metrics: Metrics;
  private h2: H2Front | undefined;
  private ws: WebSocketFront | undefined;
  private tlsServer: tls.Server | undefined;
  certs: CertStore | undefined;

  constructor(node: NodeSettings, baseDir: string, logger: Logger, metrics: Metrics) {
    this.node = node;
    this.baseDir = baseDir;
    this.logger = logger;
    this.metrics = metrics;
  }

  /** Wire the HTTP/2 server (when h2c or TLS is on) and the cleartext preface check onto `proxy`. */
  attach(proxy: http.Server, handler: Handler, maxHeaderSize: number, headersTimeoutMs: number): void {
    const n = this.node;
    this.ws = new WebSocketFront({ maxConnections: n.websocket?.maxConnections ?? WS_DEFAULTS.maxConnections, idleMs: parseDuration(n.websocket?.idleTimeout ?? WS_DEFAULTS.idleTimeout) }, this.metrics);
    this.ws.attach(proxy, handler);
    // 100-continue is sent by the pipeline after the request-phase policies (pipeline/expect.ts).
    proxy.on('checkContinue', handler);
    const cleartext = n.http2?.cleartext === true;
    if (!cleartext && !n.tls) return;
    const h2 = n.http2 ?? {};
    this.h2 = new H2Front(handler, {
      maxConcurrentStreams: h2.maxConcurrentStreams ?? H2_DEFAULTS.maxConcurrentStreams,
      maxHeaderListSize: h2.maxHeaderListSize ?? maxHeaderSize,
      maxResetsPerSecond: h2.maxResetsPerSecond ?? H2_DEFAULTS.maxResetsPerSecond,
      streamIdleMs: parseDuration(h2.streamIdleTimeout ?? H2_DEFAULTS.streamIdle),
      sessionIdleMs: parseDuration(h2.sessionIdleTimeout ?? H2_DEFAULTS.sessionIdle),
      maxControlPerSecond: H2_DEFAULTS.maxControlPerSecond,
    }, this.metrics.counter('gatehouse_http2_connections_closed_total', 'HTTP/2 connections the node closed for abuse or protocol errors, by reason (rapid_reset, control_flood, continuation_flood, enhance_your_calm, protocol_error).', ['reason']), this.metrics.counter('gatehouse_http2_streams_reset_total', 'HTTP/2 streams the node reset itself, by reason (idle: no frame either way for http2.streamIdleTimeout).', ['reason']));
    const ws = this.ws;
    this.h2.onWebSocket = (req, res) => { ws.acceptH2(req, res, handler); };
    const sessions = this.metrics.gauge('gatehouse_http2_connections', 'Open HTTP/2 connections.', []);
    const front = this.h2;
    sessions.set(0);
    front.server.on('session', () => { sessions.inc(); });
    front.server.on('session', (s: ServerSession) => { s.onClose(() => { sessions.dec(); }); });
    if (cleartext) this.sniffPlain(proxy, headersTimeoutMs);
  }

  private sniffPlain(proxy: http.Server, timeoutMs: number): void {
    const h1 = proxy.listeners('connection') as Array<(s: Socket) => void>;
    proxy.removeAllListeners('connection');
    const h2 = this.h2!.server;
    proxy.on('connection', (sock: Socket) => { sniff(sock, proxy, h1, h2, timeoutMs); });
  }

  /** Start the TLS listener (when configured). Throws, naming the file, when a certificate is unusable. */
  async start(proxy: http.Server, reusePort = false): Promise<AddressInfo | undefined> {
    const t = this.node.tls;
    if (!t) return undefined;
    const minVersion = t.minVersion ?? 'TLSv1.2';
    const clientCa = t.clientCa === undefined ? undefined : fs.readFileSync(path.resolve(this.baseDir, t.clientCa));
    const mode: ClientAuthMode = t.clientAuth ?? 'handshake';
    const store = new CertStore(t.certificates, this.baseDir, { minVersion, clientCa }, this.logger);
    this.certs = store;
    const reloads = this.metrics.counter('gatehouse_tls_certificate_reloads_total', 'Certificate files read again after a change, by result (applied | rejected: the previous pair kept).', ['result']);
    const handshakeErrors = this.metrics.counter('gatehouse_tls_handshake_errors_total', 'TLS handshakes that failed (bad client certificate, no shared version or cipher, ...).', []);
    const options = (): tls.TlsOptions => ({
      ...store.defaultPair,
      minVersion,
      ALPNProtocols: ['h2', 'http/1.1'],
      SNICallback: store.sni,
      ...(clientCa ? { ca: clientCa, requestCert: true, rejectUnauthorized: mode === 'handshake' } : {}),
      handshakeTimeout: 10_000,
    });
    // noDelay as the plain listener (Node's HTTP server sets it; a TLS server does not): a small
    // response, or the last frames of one, must not wait behind an unacknowledged segment.
    const server = tls.createServer({ ...options(), noDelay: true });
    store.onDefaultChange = () => { server.setSecureContext(options()); };
    store.onReload = (r) => { reloads.labels(r).inc(); };
    store.watch(parseDuration(t.watch ?? '2s'));
    const h2 = this.h2!.server;
    server.on('secureConnection', (sock: tls.TLSSocket) => {
      if (clientCa) (sock as tls.TLSSocket & { [CLIENT_CERT]?: unknown })[CLIENT_CERT] = judgeClientCert(sock, mode);
      if (sock.alpnProtocol === 'h2') h2.emit('connection', sock);
      else proxy.emit('connection', sock);
    });
    server.on('tlsClientError', (_err, sock: tls.TLSSocket) => { handshakeErrors.inc(); sock.destroy(); });
    this.tlsServer = server;
    const i = t.listen.lastIndexOf(':');
    const host = t.listen.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(t.listen.slice(i + 1));
    const addr = await new Promise<AddressInfo>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, reusePort, exclusive: reusePort }, () => { server.off('error', reject); resolve(server.address() as AddressInfo); });
    });
    this.logger.info({ tls: `${addr.address}:${addr.port}`, certificates: store.names }, 'tls listening');
    return addr;
  }

  /** Stop accepting (TLS listener) and send GOAWAY on every HTTP/2 connection. */
  drain(): Promise<void> {
    this.certs?.stop();
    this.ws?.drain();
    this.h2?.close();
    const s = this.tlsServer;
    return s ? new Promise((r) => { s.close(() => r()); }) : Promise.resolve();
  }

  /** Cut what is left after the drain deadline. */
  destroy(): void { this.h2?.destroy(); }
}

/**
 * Read until the first bytes tell HTTP/2 (the 24-byte preface) from anything else, put them
 * back, and hand the socket to the right server. A connection that says nothing within the
 * headers timeout is closed, as the HTTP/1.1 server would.
 */
function sniff(sock: Socket, proxy: http.Server, h1: Array<(s: Socket) => void>, h2: { emit(e: 'connection', s: Socket): boolean }, timeoutMs: number): void {
  let buf: Buffer | undefined;
  const timer = setTimeout(() => { sock.destroy(); }, timeoutMs);
  const onData = (chunk: Buffer): void => {
    buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
    const n = Math.min(buf.length, PREFACE.length);
    const same = buf.compare(PREFACE, 0, n, 0, n) === 0;
    if (same && buf.length < PREFACE.length) return;
    done(same);
  };
  const onGone = (): void => { clearTimeout(timer); };
  const done = (isH2: boolean): void => {
    clearTimeout(timer);
    sock.off('data', onData);
    sock.off('close', onGone);
    // Paused: the HTTP/2 session reads the bytes put back from the stream's buffer itself.
    // The session reads the bytes put back on the next tick; resumed after that, so the end
    // of the connection reaches the session (a paused stream would hide it).
    // The HTTP/1.1 server accepts half-open sockets; an HTTP/2 session must close with the peer.
    if (isH2) { sock.allowHalfOpen = false; sock.pause(); sock.unshift(buf!); h2.emit('connection', sock); process.nextTick(resume, sock); return; }
    sock.unshift(buf!);
    // The HTTP/1.1 server would read the socket's handle directly (bypassing the bytes put
    // back): marked as consumed, it parses from the stream's 'data' events instead.
    const handle = (sock as Socket & { _handle?: { _consumed?: boolean } })._handle;
    if (handle) handle._consumed = true;
    for (const l of h1) l.call(proxy, sock);
  };
  sock.on('data', onData);
  sock.once('close', onGone);
}

function resume(sock: Socket): void { sock.resume(); }
