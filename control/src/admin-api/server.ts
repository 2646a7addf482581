/**
 * The admin API (contract: port 9180, loopback unless told otherwise, never without a
 * token). Every request is authenticated before anything else happens, including reading
 * its body; answers are JSON, and errors are problem+json like the gateway's own.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import { ClientClosedError, ClientRuntimeError, EtcdError, GRPCGenericError } from 'etcd3';
import { isKind, type ConfigStore } from '../store/config-store.ts';
import { identityChecker, type TokensFile } from './auth.ts';
import { DEFAULT_BODY_LIMIT, parseBody, readBody } from './body.ts';
import type { HandlerContext, Reply } from './context.ts';
import { deleteItem, getConfig, getItem, listItems, putItem } from './items.ts';
import { apply, diff, history, rollback } from './apply.ts';
import { status } from './status.ts';
import { dashboard } from './dashboard/data.ts';
import { dashboardAsset } from './dashboard/assets.ts';
import { Problem, sendJson, sendProblem } from './problem.ts';

export interface AdminServerOptions {
  store: ConfigStore;
  /** A bearer token with role admin, named `admin` (at least 16 characters). */
  token?: string | undefined;
  /** Named tokens with roles (gatewayctl serve --tokens-file). At least one of token / tokens. */
  tokens?: TokensFile | undefined;
  /** Largest accepted request body in bytes (default 4 MiB). */
  bodyLimit?: number;
  logger?: Logger;
}

type Handler = (ctx: HandlerContext) => Promise<Reply>;

const VALID_ID = /^[A-Za-z0-9._:@=+/-]{8,200}$/;

/** The handler for a method and path, or a Problem (404, 405 with Allow). */
function route(method: string, path: string): Handler {
  const seg = path.split('/');
  if (seg[0] !== '' || seg[1] !== 'v1' || seg.length < 3 || seg.length > 4) throw new Problem('GW_NOT_FOUND', 'no such endpoint');
  const allow = (methods: string[], h: Handler): Handler => {
    if (methods.includes(method)) return h;
    throw new Problem('GW_METHOD_NOT_ALLOWED', `${method} is not allowed here`, undefined, { allow: methods.join(', ') });
  };
  const what = seg[2]!;
  if (seg.length === 3) {
    switch (what) {
      case 'config': return allow(['GET'], getConfig);
      case 'status': return allow(['GET'], status);
      case 'dashboard': return allow(['GET'], dashboard);
      case 'apply': return allow(['POST'], apply);
      case 'diff': return allow(['GET', 'POST'], diff);
      case 'history': return allow(['GET'], history);
      case 'rollback': return allow(['POST'], rollback);
      default:
        if (isKind(what)) return allow(['GET'], (ctx) => listItems(ctx, what));
        throw new Problem('GW_NOT_FOUND', 'no such endpoint');
    }
  }
  if (!isKind(what)) throw new Problem('GW_NOT_FOUND', 'no such endpoint');
  let name: string;
  try {
    name = decodeURIComponent(seg[3]!);
  } catch {
    throw new Problem('GW_BAD_REQUEST', 'malformed percent-encoding in the path');
  }
  if (!name) throw new Problem('GW_NOT_FOUND', 'no such endpoint');
  switch (method) {
    case 'GET': return (ctx) => getItem(ctx, what, name);
    case 'PUT': return (ctx) => putItem(ctx, what, name);
    case 'DELETE': return (ctx) => deleteItem(ctx, what, name);
    default: throw new Problem('GW_METHOD_NOT_ALLOWED', `${method} is not allowed here`, undefined, { allow: 'GET, PUT, DELETE' });
  }
}

/** An etcd failure as a client-facing problem; internal text stays in the log. */
function storeProblem(err: unknown): Problem | undefined {
  const msg = (err as Error)?.message ?? '';
  if (/too many operations in txn request/.test(msg)) {
    return new Problem('GW_PAYLOAD_TOO_LARGE', 'more changes than etcd accepts in one transaction (etcd --max-txn-ops, default 128); apply the document in parts or raise the limit');
  }
  if (/request is too large/.test(msg)) {
    return new Problem('GW_PAYLOAD_TOO_LARGE', 'the change set is larger than etcd accepts in one request (etcd --max-request-bytes)');
  }
  if (err instanceof GRPCGenericError || err instanceof EtcdError || err instanceof ClientRuntimeError || err instanceof ClientClosedError) {
    return new Problem('GW_STORE_UNAVAILABLE', 'etcd did not answer; try again');
  }
  return undefined;
}

/** Request bytes discarded after an early answer before the connection is cut (lingering close). */
const LINGER_BYTES = 1024 * 1024;

/**
 * Answers a request whose body may not have been read (401, 404, 413...). Closing at once
 * with unread bytes in flight makes the kernel reset the connection, and a reset can destroy
 * the answer before the client reads it; so up to LINGER_BYTES more are read and dropped
 * (nginx's lingering close). A client that announced more than that is cut off at once.
 */
function answerEarly(req: IncomingMessage, res: ServerResponse, p: Problem, requestId: string, unread: boolean): void {
  const declared = Number(req.headers['content-length']);
  const close = unread && Number.isFinite(declared) && declared > LINGER_BYTES;
  sendProblem(res, p, requestId, close);
  if (!unread || close) return;
  let dropped = 0;
  req.removeAllListeners('data');
  req.on('data', (c: Buffer) => {
    dropped += c.length;
    if (dropped > LINGER_BYTES) req.socket.destroy();
  });
  req.resume();
}

export function createAdminServer(o: AdminServerOptions): Server {
  const check = identityChecker({ token: o.token, tokens: o.tokens });
  const bodyLimit = o.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const log = o.logger ?? pino({ level: 'silent' });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && VALID_ID.test(incoming) ? incoming : randomBytes(16).toString('hex');
    res.setHeader('x-request-id', requestId);
    const started = performance.now();
    let bodyRead = false;
    try {
      // The dashboard's page, script and style hold no data (it comes from /v1/dashboard with a token).
      const asset = req.method === 'GET' || req.method === 'HEAD' ? dashboardAsset(req.url ?? '/') : undefined;
      if (asset) {
        res.writeHead(200, asset.headers);
        res.end(req.method === 'HEAD' ? undefined : asset.body);
        return;
      }
      const who = check(req.headers.authorization);
      if (!who) {
        log.warn({ requestId, method: req.method, path: req.url, remote: req.socket.remoteAddress }, 'admin request without a valid token');
        throw new Problem('GW_UNAUTHORIZED', 'send Authorization: Bearer <admin token>', undefined, { 'www-authenticate': 'Bearer realm="gatehouse-admin"' });
      }
      const url = new URL(req.url ?? '/', 'http://admin.invalid');
      const handler = route(req.method ?? 'GET', url.pathname);
      const ctx: HandlerContext = {
        store: o.store, req, url, requestId, log, who,
        body: async () => { const buf = await readBody(req, bodyLimit); bodyRead = true; return parseBody(buf); },
      };
      const reply = await handler(ctx);
      sendJson(res, reply.status, reply.body, reply.headers);
    } catch (err) {
      let p: Problem;
      if (err instanceof Problem) {
        p = err;
      } else {
        p = storeProblem(err) ?? new Problem('GW_INTERNAL');
        log.error({ requestId, err }, 'admin request failed');
      }
      if (res.headersSent) { res.destroy(); return; }
      answerEarly(req, res, p, requestId, !bodyRead && !req.readableEnded);
    } finally {
      log.debug({ requestId, method: req.method, path: req.url, status: res.statusCode, ms: Math.round(performance.now() - started) }, 'admin request');
    }
  };

  const server = createServer({ requestTimeout: 60_000, headersTimeout: 10_000 }, (req, res) => { void handle(req, res); });
  server.keepAliveTimeout = 5000;
  return server;
}

export interface ListeningAdmin {
  server: Server;
  /** `http://host:port` the API answers on. */
  url: string;
  close(): Promise<void>;
}

/** Listens on host:port (port 0 = any free one). */
export function listen(server: Server, host: string, port: number): Promise<ListeningAdmin> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({
        server,
        url: `http://${h}:${a.port}`,
        close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
      });
    });
  });
}
