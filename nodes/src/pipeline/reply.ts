/**
 * Local replies: every response the gateway makes itself goes through here, so the
 * problem+json shape is the same everywhere; the head is assembled by response-head.ts, as
 * a proxied response's is.
 */
import { errors, problemBody } from '../errors.ts';
import type { RequestContext } from '../request/context.ts';
import type { LocalReply } from '../request/policy.ts';
import type { Runtime } from './runtime.ts';
import { assembleHead, setField, type HeadFields } from './response-head.ts';
import { finish } from './finish.ts';
import { isGrpc, grpcErrorHeaders } from '../http/grpc.ts';
import { flatToObject } from '../http/headers.ts';

export function sendReply(rt: Runtime, ctx: RequestContext, reply: LocalReply): void {
  const res = ctx.res;
  if (res.headersSent || res.destroyed) { reply.stream?.destroy(); res.destroy(); finish(rt, ctx); return; }
  let status: number;
  let body: string | Buffer;
  // The reply's own fields, flat: step 1 of the one head assembly (response-head.ts).
  const base: string[] = [];
  if (reply.code && isGrpc(ctx.req.headers)) {
    // gRPC: the status in a trailers-only response (http/grpc.ts); HTTP status 200, no body.
    const e = errors[reply.code];
    pushFields(base, grpcErrorHeaders(e.status, reply.detail ?? e.title), false);
    status = 200;
    body = '';
    ctx.errorCode = reply.code;
  } else if (reply.code) {
    status = errors[reply.code].status;
    body = problemBody(reply.code, ctx.id, reply.detail, reply.extra);
    base.push('content-type', 'application/problem+json');
    ctx.errorCode = reply.code;
  } else {
    status = reply.status ?? 200;
    body = reply.body ?? '';
  }
  // Content-Length is the framing's (below) unless the body streams.
  if (reply.headers) pushFields(base, reply.headers, reply.stream === undefined);
  const translated = reply.translated === true && reply.stream === undefined;
  const headers = assembleHead(rt, ctx, status, base, true, translated);
  status = ctx.status;
  if (reply.stream) return streamReply(rt, ctx, status, headers, reply.stream);
  // 204 and 304 have no body (RFC 9110 §6.4.1); a Content-Length there would be refused by clients.
  if (status === 204 || status === 304) body = '';
  else setField(headers, 'content-length', String(Buffer.byteLength(body)));
  try {
    res.writeHead(status, headers);
    res.end(ctx.method === 'HEAD' || body === '' ? undefined : body);
  } catch {
    res.destroy();
  }
  // The upstream's answer in another form: the tap (the cache's fill) sees it as it would a proxied body.
  const tap = ctx.tap;
  if (translated && tap !== undefined) {
    if (res.destroyed) tap.abort();
    else {
      tap.head(status, Array.isArray(headers) ? flatToObject(headers) : headers);
      if (body !== '') tap.data(typeof body === 'string' ? Buffer.from(body) : body);
      tap.end();
    }
  }
  finish(rt, ctx);
}

/** A LocalReply with a stream: chunked, finished when the stream ends or either side goes away. */
function streamReply(rt: Runtime, ctx: RequestContext, status: number, headers: HeadFields, stream: import('node:stream').Readable): void {
  const res = ctx.res;
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

/**
 * Header fields of an object onto a flat list (lower-case names; arrays as repeated fields),
 * replacing fields of the same name already there. X-Request-Id is the gateway's (added by
 * the assembly), Content-Length the framing's when `skipLength`.
 */
function pushFields(out: string[], h: Readonly<Record<string, string | string[]>>, skipLength: boolean): void {
  for (const k in h) {
    const name = k.toLowerCase();
    if (name === 'x-request-id' || (skipLength && name === 'content-length')) continue;
    drop(out, name);
    const v = h[k]!;
    if (typeof v === 'string') out.push(name, v);
    else for (const one of v) out.push(name, one);
  }
}

function drop(out: string[], name: string): void {
  let w = 0;
  for (let i = 0; i < out.length; i += 2) if (out[i] !== name) { out[w++] = out[i]!; out[w++] = out[i + 1]!; }
  out.length = w;
}
