/**
 * One compiled set of request checks (a `validate` config, or one OpenAPI operation).
 * Per request, only the parts that have a schema cost anything: a GET on a route with a
 * query schema builds one small object and never touches the body stream. The body is
 * buffered only when a JSON body has to be checked; the bytes validated are the bytes
 * forwarded (ctx.body), so upstreams that verify a signature over the body still can.
 */
import type { ValidateFunction } from 'ajv';
import type { RequestContext } from '../../request/context.ts';
import type { HookResult, LocalReply } from '../../request/policy.ts';
import { MAX_ERRORS, pushAjvErrors, type FieldError, type Location } from './ajv.ts';
import { coerce, type ParamShape } from './coerce.ts';
import { hasBody, isJsonMediaType, mediaRangeMatches, parseMediaType, readBody, type BodyResult } from './body.ts';
import { parseStrictJson } from './json.ts';

export interface PartCheck {
  readonly validate: ValidateFunction;
  readonly shapes: readonly ParamShape[];
  /** Headers only: the (lower-case) names to copy; undefined copies every header. */
  readonly names?: readonly string[] | undefined;
}

export interface MediaCheck {
  /** A media range: `application/json`, `application/*`, `*\/*`. */
  readonly range: string;
  /** Schema for a JSON body of this type; undefined: any well-formed JSON. */
  readonly validate: ValidateFunction | undefined;
}

export interface CheckerSpec {
  query?: PartCheck | undefined;
  params?: PartCheck | undefined;
  headers?: PartCheck | undefined;
  /** Accepted body media types; undefined: bodies are not checked; []: no body is accepted. */
  media?: readonly MediaCheck[] | undefined;
  /** true, false, or required for POST/PUT/PATCH only. */
  bodyRequired: boolean | 'by-method';
  maxBodySize: number;
  maxDepth: number;
  /** Shadow mode: a body too large to buffer is put back on the stream so the request still goes through. */
  restore: boolean;
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

export function invalid(errors: FieldError[], detail = 'The request does not match the API schema'): LocalReply {
  return { code: 'GW_VALIDATION_FAILED', detail, extra: { errors } };
}

function unsupported(detail: string): LocalReply {
  return { code: 'GW_UNSUPPORTED_MEDIA_TYPE', detail };
}

function decodeParam(v: string): string {
  if (v.indexOf('%') < 0) return v;
  try { return decodeURIComponent(v); } catch { return v; }
}

export class Checker {
  private readonly s: CheckerSpec;

  constructor(spec: CheckerSpec) {
    this.s = spec;
  }

  /** Run every check. `pathParams`: from the OpenAPI path template; default: the route's params. */
  check(ctx: RequestContext, pathParams?: Record<string, string>): HookResult | Promise<HookResult> {
    const s = this.s;
    let errors: FieldError[] | undefined;
    if (s.query) errors = this.part('query', s.query, this.queryData(ctx), errors);
    if (s.params) {
      const data: Record<string, unknown> = Object.create(null);
      const src = pathParams ?? ctx.params;
      if (src) for (const k in src) data[k] = decodeParam(src[k]!);
      errors = this.part('params', s.params, data, errors);
    }
    if (s.headers) errors = this.part('headers', s.headers, this.headerData(ctx, s.headers), errors);
    if (errors) return invalid(errors);
    if (s.media === undefined) return undefined;
    return this.body(ctx, s.media);
  }

  private part(where: Location, p: PartCheck, data: Record<string, unknown>, errors: FieldError[] | undefined): FieldError[] | undefined {
    const out = errors ?? [];
    const before = out.length;
    coerce(data, p.shapes, where, out);
    if (!p.validate(data)) {
      if (out.length === before) pushAjvErrors(where, '', p.validate.errors, out);
      else {
        // A parameter already reported as repeated would also fail its type check: say it once.
        const reported = new Set(out.slice(before).map((e) => e.path));
        const more: FieldError[] = [];
        pushAjvErrors(where, '', p.validate.errors, more);
        for (const e of more) if (!reported.has(e.path) && out.length < MAX_ERRORS) out.push(e);
      }
    }
    return out.length ? out : errors;
  }

  private queryData(ctx: RequestContext): Record<string, unknown> {
    const data: Record<string, unknown> = Object.create(null);
    if (ctx.rawQuery === '') return data;
    for (const [k, v] of ctx.searchParams) {
      const cur = data[k];
      if (cur === undefined) data[k] = v;
      else if (Array.isArray(cur)) cur.push(v);
      else data[k] = [cur as string, v];
    }
    return data;
  }

  private headerData(ctx: RequestContext, p: PartCheck): Record<string, unknown> {
    const data: Record<string, unknown> = Object.create(null);
    const h = ctx.req.headers;
    if (p.names) {
      for (const n of p.names) { const v = h[n]; if (v !== undefined) data[n] = v; }
    } else {
      for (const n in h) data[n] = h[n];
    }
    return data;
  }

  private body(ctx: RequestContext, media: readonly MediaCheck[]): HookResult | Promise<HookResult> {
    const s = this.s;
    const req = ctx.req;
    if (!hasBody(req)) {
      const required = s.bodyRequired === 'by-method' ? BODY_METHODS.has(ctx.method) : s.bodyRequired;
      return required ? invalid([{ in: 'body', path: '', message: 'is required' }]) : undefined;
    }
    if (media.length === 0) return invalid([{ in: 'body', path: '', message: 'no request body is expected' }]);
    const mt = parseMediaType(req.headers['content-type']);
    if (!mt) return unsupported('Content-Type is missing or malformed');
    const m = pickMedia(media, mt.essence);
    if (!m) return unsupported(`Content-Type ${mt.essence} is not accepted here`);
    const json = isJsonMediaType(mt.essence);
    // RFC 8259 §8.1: JSON exchanged between systems is UTF-8; another charset means another reading.
    if (json && mt.charset !== undefined && mt.charset !== 'utf-8') return unsupported('JSON bodies must be UTF-8');
    // RFC 7694 §3: a content coding the server does not support is a 415. A compressed body
    // cannot be validated without inflating it (and bounding the inflated size).
    const ce = req.headers['content-encoding'];
    if (ce !== undefined && ce.trim().toLowerCase() !== 'identity') return unsupported('Content-Encoding is not supported here');
    if (!json) return undefined; // declared non-JSON type: the media type is all that is checked
    // Another policy already buffered it: check those bytes, the ones that will be forwarded.
    if (ctx.body !== undefined) return ctx.body.length > s.maxBodySize ? tooLarge(s.maxBodySize, false) : this.afterRead(ctx, ctx.body, m);
    const cl = req.headers['content-length'];
    if (cl !== undefined && Number(cl) > s.maxBodySize) return tooLarge(s.maxBodySize, !s.restore);
    return readBody(req, s.maxBodySize, s.restore).then((r) => this.afterRead(ctx, r, m));
  }

  private afterRead(ctx: RequestContext, r: BodyResult, m: MediaCheck): HookResult {
    if (r === 'too-large') return tooLarge(this.s.maxBodySize, !this.s.restore);
    if (r === 'aborted') return { code: 'GW_BAD_REQUEST', detail: 'Request body incomplete' };
    // Set before checking: in shadow mode the request goes on, and the stream is consumed.
    ctx.body = r;
    const parsed = parseStrictJson(r, this.s.maxDepth);
    if (!parsed.ok) return invalid([{ in: 'body', path: '', message: parsed.message }]);
    const v = m.validate;
    if (v && !v(parsed.value)) {
      const errors: FieldError[] = [];
      pushAjvErrors('body', '', v.errors, errors);
      return invalid(errors);
    }
    return undefined;
  }
}

/** The most specific range wins (RFC 9110 §12.5.1 precedence): exact, `type/*+suffix`, `type/*`, `*\/*`. */
function pickMedia(media: readonly MediaCheck[], essence: string): MediaCheck | undefined {
  let best: MediaCheck | undefined;
  let rank = 0;
  for (const c of media) {
    if (!mediaRangeMatches(c.range, essence)) continue;
    const r = c.range === essence ? 4 : c.range === '*/*' ? 1 : c.range.endsWith('/*') ? 2 : 3;
    if (r > rank) { best = c; rank = r; }
  }
  return best;
}

function tooLarge(max: number, close: boolean): LocalReply {
  // The rest of the body was not read: close the connection rather than reading it to reuse the socket.
  return { code: 'GW_PAYLOAD_TOO_LARGE', detail: `Request body exceeds ${max} bytes`, ...(close ? { headers: { connection: 'close' } } : {}) };
}
