/**
 * Local replies: every response the gateway makes itself goes through here, so the
 * problem+json shape, X-Request-Id and response hooks are the same everywhere.
 */
import { errors, problemBody } from '../errors.ts';
import type { RequestContext } from '../request/context.ts';
import type { LocalReply, ResponseHead } from '../request/policy.ts';
import type { Runtime } from './runtime.ts';
import { finish } from './finish.ts';
import { isGrpc, grpcErrorHeaders } from '../http/grpc.ts';

export function sendReply(rt: Runtime, ctx: RequestContext, reply: LocalReply): void {
  const res = ctx.res;
  if (res.headersSent || res.destroyed) { reply.stream?.destroy(); res.destroy(); finish(rt, ctx); return; }
  let status: number;
  let body: string | Buffer;
  const headers: Record<string, string | string[]> = {};
  if (reply.code && isGrpc(ctx.req.headers)) {
    // gRPC: the status in a trailers-only response (http/grpc.ts); HTTP status 200, no body.
    const e = errors[reply.code];
    Object.assign(headers, grpcErrorHeaders(e.status, reply.detail ?? e.title));
    status = 200;
    body = '';
    ctx.errorCode = reply.code;
  } else if (reply.code) {
    status = errors[reply.code].status;
    body = problemBody(reply.code, ctx.id, reply.detail, reply.extra);
    headers['content-type'] = 'application/problem+json';
    ctx.errorCode = reply.code;
  } else {
    status = reply.status ?? 200;
    body = reply.body ?? '';
  }
  if (reply.headers) for (const k in reply.headers) headers[k.toLowerCase()] = reply.headers[k]!;
  const route = ctx.route;
  if (route) { const f = route.fixedHeaders; for (let i = 0; i < f.length; i += 2) headers[f[i]!] = f[i + 1]!; }
  if (ctx.responseHeaders) for (const k in ctx.responseHeaders) headers[k] = ctx.responseHeaders[k]!;
  headers['x-request-id'] = ctx.id;
  if (rt.draining) headers.connection = 'close';
  if (route && route.response.length) {
    const head: ResponseHead = { status, headers, local: true };
    for (const h of route.response) h(ctx, head);
    status = head.status;
  }
  if (reply.stream) return streamReply(rt, ctx, status, headers, reply.stream);
  // 204 and 304 have no body (RFC 9110 §6.4.1); a Content-Length there would be refused by clients.
  if (status === 204 || status === 304) body = '';
  else headers['content-length'] = String(Buffer.byteLength(body));
  ctx.status = status;
  try {
    res.writeHead(status, headers);
    res.end(ctx.method === 'HEAD' || body === '' ? undefined : body);
  } catch {
    res.destroy();
  }
  finish(rt, ctx);
}

/** A LocalReply with a stream: chunked, finished when the stream ends or either side goes away. */
function streamReply(rt: Runtime, ctx: RequestContext, status: number, headers: Record<string, string | string[]>, stream: import('node:stream').Readable): void {
  const res = ctx.res;
  ctx.status = status;
  const done = (): void => { if (!stream.destroyed) stream.destroy(); finish(rt, ctx); };
  res.once('close', done);
  stream.once('error', () => res.destroy());
  try {
    res.writeHead(status, headers);
    if (ctx.method === 'HEAD') { res.end(); return; }
    res.flushHeaders();
    stream.pipe(res);
  } catch {
    res.destroy();
  }
}
