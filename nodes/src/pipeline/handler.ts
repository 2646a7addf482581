/**
 * The request entry point. Order matters for security: the target is normalised once,
 * and that one path is routed, checked by policies and forwarded (contract "Security").
 * Phases run synchronously while policies answer synchronously; the first policy that
 * returns a promise moves the rest of the chain onto it (no promise per request otherwise).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { normalizeAuthority, normalizeTarget } from '../http/normalize.ts';
import { RequestContext } from '../request/context.ts';
import { requestId } from '../http/ids.ts';
import { peerAddress } from '../http/client-ip.ts';
import { sendReply } from './reply.ts';
import { finish } from './finish.ts';
import { forward } from './forward.ts';
import type { Runtime } from './runtime.ts';
import type { HookResult } from '../request/policy.ts';
import type { CompiledRoute } from '../request/route.ts';
import { clientCertOf, H_CERT_SUBJECT, H_CERT_FINGERPRINT } from '../http/client-cert.ts';
import { tunnel } from './websocket.ts';
import { continueIfAsked } from './expect.ts';

export function createHandler(rt: Runtime): (req: IncomingMessage, res: ServerResponse) => void {
  return function handle(req, res) {
    rt.inflight++;
    const incomingId = rt.trustRequestId || rt.trusted.has(peerAddress(req)) ? req.headers['x-request-id'] : undefined;
    const id = requestId(incomingId);
    const t = normalizeTarget(req.url!, rt.allowSemicolon);
    const hostHeader = req.headers.host;
    const absolute = 'authority' in t && t.authority ? t.authority : undefined;
    // Host is input (RFC 9110 §7.2, RFC 3986 §3.2.2): one normalised authority (lower-case,
    // one trailing dot of the name dropped) is routed, keyed and forwarded; an invalid one is a 400.
    const authority = absolute ?? (hostHeader === undefined ? '' : hostAuthority(hostHeader));
    const ctx = new RequestContext(req, res, id, stripPort(authority ?? ''), 'path' in t ? t.path : '/', 'path' in t ? t.rawQuery : '', rt.trusted);
    ctx.authority = authority ?? '';
    ctx.ownId = id !== incomingId;
    if (rt.tracing !== undefined) ctx.trace = rt.tracing.begin(ctx);
    if ('error' in t) return sendReply(rt, ctx, { code: t.error });
    if (authority === undefined) return sendReply(rt, ctx, { code: 'GW_BAD_REQUEST', detail: 'Invalid Host header' });
    if (poisoned.has(req.socket)) { res.destroy(); ctx.status = 0; return finish(rt, ctx); }
    if (hasDuplicateHost(req.rawHeaders)) return sendReply(rt, ctx, { code: 'GW_BAD_REQUEST', detail: 'Duplicate Host header' });
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400 (checked here rather than by
    // Node's requireHostHeader, so the answer is the gateway's problem+json).
    if (hostHeader === undefined && req.httpVersionMinor === 1 && !('authority' in t && t.authority)) return framingError(rt, ctx, 'Missing Host header');
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing: refuse and
    // close, and refuse whatever else was pipelined behind it on that connection.
    if (req.httpVersionMinor === 0 && req.httpVersionMajor === 1 && req.headers['transfer-encoding'] !== undefined) return framingError(rt, ctx, 'Transfer-Encoding is not valid in HTTP/1.0');
    // RFC 9112 §6.1: a transfer coding the gateway does not implement (anything but chunked,
    // which Node's parser requires last) is a 501; the body's framing is then unknown: close.
    const te = req.headers['transfer-encoding'];
    if (te !== undefined && te !== 'chunked' && te.toLowerCase() !== 'chunked') return framingError(rt, ctx, 'Only the chunked transfer coding is supported', 'GW_NOT_IMPLEMENTED');
    if (rt.draining) res.shouldKeepAlive = false;
    const cl = req.headers['content-length'];
    if (cl !== undefined && Number(cl) > rt.maxBodySize) return sendReply(rt, ctx, { code: 'GW_PAYLOAD_TOO_LARGE' });
    // mTLS (http/client-cert.ts): the verdict was taken once, at the handshake.
    const cert = clientCertOf(req.socket);
    if (cert !== undefined) {
      if (cert.state === 'refused') return sendReply(rt, ctx, { code: 'GW_UNAUTHORIZED', detail: cert.reason });
      if (cert.state === 'verified') {
        ctx.clientCert = cert.cert;
        ctx.setUpstreamHeader(H_CERT_SUBJECT, cert.cert.subject);
        ctx.setUpstreamHeader(H_CERT_FINGERPRINT, cert.cert.fingerprint);
      }
    }

    const snap = rt.snapshot;
    if (!snap) return sendReply(rt, ctx, { code: 'GW_ROUTE_NOT_FOUND' });
    // A bug anywhere below must cost one request a 500, never the process.
    try {
      const m = snap.router.match(ctx.host, ctx.path, ctx.method, req.headers);
      if (!m) return sendReply(rt, ctx, { code: 'GW_ROUTE_NOT_FOUND' });
      const route = m.value;
      ctx.route = route;
      ctx.params = m.params;
      runFrom(rt, ctx, route, 0);
    } catch (err) {
      internal(rt, ctx, err);
    }
  };
}

function runFrom(rt: Runtime, ctx: RequestContext, route: CompiledRoute, start: number): void {
  const hooks = route.request;
  for (let i = start; i < hooks.length; i++) {
    let r: HookResult | Promise<HookResult>;
    try {
      r = hooks[i]!(ctx);
    } catch (err) {
      return internal(rt, ctx, err);
    }
    if (r === undefined) continue;
    if (typeof (r as Promise<HookResult>).then === 'function') {
      (r as Promise<HookResult>).then(
        (v) => { if (ctx.done) return; if (v) sendReply(rt, ctx, v); else runFrom(rt, ctx, route, i + 1); },
        (err) => internal(rt, ctx, err),
      );
      return;
    }
    return sendReply(rt, ctx, r as NonNullable<HookResult>);
  }
  if (ctx.res.destroyed) { ctx.status = 0; return finish(rt, ctx); }
  const up = ctx.upstream ?? route.upstream;
  if (!up) return sendReply(rt, ctx, { code: 'GW_ROUTE_NOT_FOUND', detail: 'Route has no upstream' });
  // A WebSocket upgrade whose request-phase policies all passed (pipeline/websocket.ts).
  if ((ctx.req as { upgrade?: boolean }).upgrade === true) return tunnel(rt, ctx, up);
  // Expect: 100-continue: the body is asked for only now that the policies let it through.
  if (ctx.req.headers.expect !== undefined) continueIfAsked(ctx);
  forward(rt, ctx, up);
}

function internal(rt: Runtime, ctx: RequestContext, err: unknown): void {
  // The error is logged with the request id; the client sees only the catalogue's text.
  rt.logger.error({ err, requestId: ctx.id, route: ctx.route?.name }, 'policy failed');
  sendReply(rt, ctx, { code: 'GW_INTERNAL' });
}

/** Connections whose framing can no longer be trusted: later pipelined requests on them are dropped. */
const poisoned = new WeakSet<object>();

function framingError(rt: Runtime, ctx: RequestContext, detail: string, code: 'GW_BAD_REQUEST' | 'GW_NOT_IMPLEMENTED' = 'GW_BAD_REQUEST'): void {
  poisoned.add(ctx.req.socket);
  ctx.res.shouldKeepAlive = false;
  sendReply(rt, ctx, { code, detail });
}

/**
 * A Host header → the normalised authority, or undefined when it is not a valid
 * `host[:port]` (normalize.ts: DNS-style name or IP literal, port 0-65535). Also refused: an
 * empty label (`a..b`, a leading dot). One trailing dot (`example.com.`, the FQDN spelling)
 * is dropped so the name matches its host routes and cache entries.
 */
function hostAuthority(raw: string): string | undefined {
  const a = normalizeAuthority(raw);
  if (a === undefined || a.charCodeAt(0) === 46 /* . */ || a.includes('..')) return undefined;
  const i = a.charCodeAt(0) === 91 /* [ */ ? -1 : a.lastIndexOf(':');
  const name = i >= 0 ? a.slice(0, i) : a;
  if (name.length > 1 && name.charCodeAt(name.length - 1) === 46) return name.slice(0, -1) + (i >= 0 ? a.slice(i) : '');
  return a;
}

function stripPort(h: string): string {
  if (h.charCodeAt(0) === 91 /* [ */) { const e = h.indexOf(']'); return e > 0 ? h.slice(0, e + 1) : h; }
  const i = h.lastIndexOf(':');
  return i >= 0 ? h.slice(0, i) : h;
}

/** Two Host headers make routing ambiguous (RFC 9112 §3.2: respond 400). Node keeps only the first. */
function hasDuplicateHost(raw: string[]): boolean {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    if (k.length === 4 && (k === 'Host' || k.toLowerCase() === 'host') && ++n > 1) return true;
  }
  return false;
}
