/**
 * One stored response. Everything a hit needs is computed here, once, when the response is
 * stored: freshness as an absolute time (`freshUntil`), the age base of RFC 9111 §4.2.3 (so
 * the Age header is `now − ageBase`), validators, and the reply objects themselves. A hit
 * compares two numbers and returns a reply object it already has (rebuilt once a second,
 * when Age changes).
 */
import type { LocalReply } from '../../request/policy.ts';
import { parseResponseDirectives, type ResponseDirectives } from './directives.ts';
import { targetedDirectives } from './targeted.ts';
import { connectionTokens } from '../../http/headers.ts';
import { correctedInitialAge, freshnessLifetime, notStorable, parseHttpDate, single, varyNames, type Headers, type Timing } from './freshness.ts';

export interface EntrySettings {
  /** Heuristic freshness (the `ttl` setting) in ms; 0 = none. */
  readonly heuristicMs: number;
  /** Apply heuristicMs to responses to requests with Cookie or Authorization too (the route's `heuristicCredentialed`). */
  readonly heuristicCredentialed?: boolean;
  readonly storeSetCookie: boolean;
  /** Targeted cache-control fields (RFC 9213), lower case, in priority order; none when absent. */
  readonly targeted?: readonly string[];
}

/** Which requests a stored response answers besides its key (RFC 9111 §4.1, plus the route's own key parts). */
export interface Selector {
  /** Route name and key settings: a response stored by one route never answers another. */
  readonly partition: string;
  /** Values of the configured key headers (and consumer), when the route has any. */
  readonly keyValues: readonly string[] | undefined;
}

/** A response that may be stored, before its body is known. */
export interface Meta extends Timing {
  readonly status: number;
  readonly headers: Headers;
  readonly cc: ResponseDirectives;
  readonly varyNames: readonly string[];
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
  readonly sie: number;
  /** May answer a request with Authorization (RFC 9111 §3.5). */
  readonly authOk: boolean;
}

export interface Received {
  status: number;
  /** Response headers without hop-by-hop ones; `age` is read here and removed. */
  headers: Headers;
  requestTime: number;
  responseTime: number;
  /** The request carried Authorization. */
  authorized: boolean;
  /** The request carried Cookie or Authorization: the heuristic `ttl` does not apply unless the route says so. */
  credentialed?: boolean;
}

/**
 * Memory accounting (docs/policies/cache.md "Memory"): what one stored response costs
 * besides the text it holds, measured on Node 24 (test/fixtures/cache-memory-probe.ts) and
 * rounded up. ENTRY_OVERHEAD: the Entry, its headers object, the Buffer object of the body,
 * and the hit reply it keeps (a second headers object). HEADER_OVERHEAD: per header line,
 * its property in both headers objects and the string's own header; an object with many
 * properties turns into a dictionary and costs more per line, hence the margin. Text is
 * counted at one byte per character (header values are latin1; keys are ASCII after
 * normalisation).
 */
export const ENTRY_OVERHEAD = 1024;
export const HEADER_OVERHEAD = 96;
/** Per element of a header or vary value list: the array slot and the string's header. */
const LIST_ITEM_OVERHEAD = 24;
const EMPTY = Buffer.alloc(0);

/** Headers the gateway recomputes on every reply: never stored. */
const NOT_STORED = ['age', 'x-cache', 'content-length', 'x-request-id'];
/** What a 304 carries (RFC 9110 §15.4.5). */
const NOT_MODIFIED_HEADERS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified'];

/** The storable description of a response, or why it is not worth storing (RFC 9111 §3). */
export function assess(r: Received, s: EntrySettings): Meta | string {
  const h = r.headers;
  const targeted = s.targeted === undefined || s.targeted.length === 0 ? undefined : targetedDirectives(h, s.targeted);
  const cc = targeted ?? parseResponseDirectives(h['cache-control']);
  const why = notStorable(r.status, cc, h, { authorized: r.authorized, storeSetCookie: s.storeSetCookie });
  if (why !== undefined) return why;
  const vary = varyNames(h);
  if (vary[0] === '*') return 'vary-star'; // §4.1: never matches a later request
  let dateMs = parseHttpDate(single(h, 'date'));
  if (dateMs === undefined) {
    // RFC 9110 §6.6.1: a recipient with a clock adds Date; the stored copy keeps it.
    dateMs = r.responseTime;
    h.date = new Date(dateMs).toUTCString();
  }
  const lifetime = freshnessLifetime(cc, h, r.status, dateMs, r.credentialed === true && !s.heuristicCredentialed ? 0 : s.heuristicMs, targeted !== undefined);
  if (lifetime === undefined) return 'no-freshness';
  const etag = single(h, 'etag');
  const lastModified = single(h, 'last-modified');
  const validator = etag !== undefined || lastModified !== undefined;
  const swr = cc.staleWhileRevalidate !== undefined ? cc.staleWhileRevalidate * 1000 : -1;
  const sie = cc.staleIfError !== undefined ? cc.staleIfError * 1000 : -1;
  // Stored only to be revalidated, but nothing to revalidate with: useless.
  if (cc.noCache && !validator) return 'no-cache-without-validator';
  if (lifetime === 0 && !validator && swr < 0 && sie < 0) return 'stale-without-validator';
  const ageBase = r.responseTime - correctedInitialAge(single(h, 'age'), dateMs, r.requestTime, r.responseTime);
  return {
    status: r.status,
    headers: storedHeaders(h),
    cc,
    varyNames: vary,
    etag,
    lastModified,
    ageBase,
    lifetime,
    freshUntil: cc.noCache ? -Infinity : ageBase + lifetime,
    // §4.2.4 and §5.2.2.10: s-maxage implies proxy-revalidate for a shared cache.
    noStale: cc.noCache || cc.mustRevalidate || cc.proxyRevalidate || cc.sMaxAge !== undefined,
    swr,
    sie,
    authOk: cc.public || cc.mustRevalidate || cc.sMaxAge !== undefined,
  };
}

/** Estimated bytes one stored response holds (see ENTRY_OVERHEAD); the store bounds their sum. */
export function accountedSize(bodyBytes: number, headers: Headers, varyValues: ReadonlyArray<string | undefined>, keyValues: readonly string[] | undefined): number {
  let n = ENTRY_OVERHEAD + bodyBytes;
  for (const k in headers) {
    const v = headers[k]!;
    n += HEADER_OVERHEAD + k.length;
    if (typeof v === 'string') n += v.length;
    else for (const x of v) n += LIST_ITEM_OVERHEAD + x.length;
  }
  for (const v of varyValues) n += LIST_ITEM_OVERHEAD + (v === undefined ? 0 : v.length);
  if (keyValues !== undefined) for (const v of keyValues) n += LIST_ITEM_OVERHEAD + v.length;
  return n;
}

/**
 * A body the entry owns outright. A small Buffer is usually a slice of Node's shared 8 KiB
 * pool (Buffer.concat, allocUnsafe): kept, it would keep the whole slab alive after its
 * neighbours are evicted, up to 80 times what was counted for a 100-byte body.
 */
function owned(body: Buffer): Buffer {
  if (body.length === 0) return EMPTY;
  if (body.byteOffset === 0 && body.buffer.byteLength === body.length) return body;
  const copy = Buffer.allocUnsafeSlow(body.length);
  body.copy(copy);
  return copy;
}

/**
 * The headers kept, in a new object: deleting from the received one would turn it into a
 * slow dictionary object, about 400 bytes more per stored response (measured).
 */
function storedHeaders(h: Headers): Headers {
  const out: Headers = {};
  for (const k in h) if (!NOT_STORED.includes(k)) out[k] = h[k]!;
  return out;
}

/** Header values of a request as a variant sees them: absent stays undefined, repeats joined. */
export function requestValue(v: string | string[] | undefined): string | undefined {
  return v === undefined ? undefined : typeof v === 'string' ? v.trim() : v.join(', ');
}

/**
 * A request header's value as the upstream received it: a header the request's Connection
 * names was dropped before forwarding (RFC 9110 §7.6.1), so for Vary it is absent. The
 * variant is then selected and stored by what the upstream actually varied on.
 */
export function forwardedValue(h: Readonly<Record<string, string | string[] | undefined>>, name: string): string | undefined {
  const c = h.connection;
  if (c !== undefined) {
    const t = connectionTokens(c);
    if (t !== undefined && t.has(name)) return undefined;
  }
  return requestValue(h[name]);
}

export class Entry implements Timing {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
  readonly size: number;
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
  /** Last-Modified, else Date, for If-Modified-Since (RFC 9111 §4.3.2). */
  readonly modifiedMs: number | undefined;
  readonly ageBase: number;
  readonly lifetime: number;
  readonly freshUntil: number;
  readonly noStale: boolean;
  readonly swr: number;
  readonly sie: number;
  readonly authOk: boolean;
  readonly partition: string;
  readonly keyValues: readonly string[] | undefined;
  readonly varyNames: readonly string[];
  readonly varyValues: ReadonlyArray<string | undefined>;
  /** A background refresh (stale-while-revalidate) is running: start no other. */
  refreshing = false;
  private hitSecond = -1;
  private hit: LocalReply | undefined = undefined;

  constructor(m: Meta, body: Buffer, sel: Selector, reqHeaders: NodeJS.Dict<string | string[]>) {
    this.status = m.status;
    this.headers = m.headers;
    this.body = owned(body);
    this.etag = m.etag;
    this.lastModified = m.lastModified;
    this.modifiedMs = parseHttpDate(m.lastModified ?? single(m.headers, 'date'));
    this.ageBase = m.ageBase;
    this.lifetime = m.lifetime;
    this.freshUntil = m.freshUntil;
    this.noStale = m.noStale;
    this.swr = m.swr;
    this.sie = m.sie;
    this.authOk = m.authOk;
    this.partition = sel.partition;
    this.keyValues = sel.keyValues;
    this.varyNames = m.varyNames;
    this.varyValues = m.varyNames.map((n) => forwardedValue(reqHeaders, n));
    this.size = accountedSize(this.body.length, m.headers, this.varyValues, sel.keyValues);
  }

  get hasValidator(): boolean { return this.etag !== undefined || this.lastModified !== undefined; }

  /** Age in whole seconds (RFC 9111 §5.1). */
  ageSeconds(now: number): number {
    const a = Math.floor((now - this.ageBase) / 1000);
    return a > 0 ? a : 0;
  }

  /** The common case: a fresh hit. The reply object is reused until Age changes. */
  hitReply(now: number): LocalReply {
    const age = this.ageSeconds(now);
    if (age !== this.hitSecond || this.hit === undefined) {
      this.hitSecond = age;
      this.hit = this.reply(now, 'HIT');
    }
    return this.hit;
  }

  reply(now: number, xCache: string): LocalReply {
    const headers: Record<string, string | string[]> = { ...this.headers, age: String(this.ageSeconds(now)), 'x-cache': xCache };
    return { status: this.status, headers, body: this.body };
  }

  /**
   * 304 to a client whose validator matches, with the fields a 200 would have carried that
   * a 304 must repeat. No body: sendReply then says Content-Length: 0, which clients ignore
   * on a 304 (undici even rejects the stored length there, although RFC 9110 §8.6 allows it).
   */
  notModified(now: number, xCache: string): LocalReply {
    const headers: Record<string, string | string[]> = { age: String(this.ageSeconds(now)), 'x-cache': xCache };
    for (const n of NOT_MODIFIED_HEADERS) { const v = this.headers[n]; if (v !== undefined) headers[n] = v; }
    return { status: 304, headers };
  }
}

/**
 * The stored headers updated by a 304 (RFC 9111 §3.2, §4.3.4): each field the 304 carries
 * replaces the stored one, except Content-Length (it describes the 304) and our own.
 */
export function mergeNotModified(stored: Headers, fresh: Headers): Headers {
  const out: Headers = { ...stored };
  for (const k in fresh) if (k !== 'content-length' && k !== 'x-cache') out[k] = fresh[k]!;
  return out;
}

/** Same stored variant: a new response for it replaces the old one (RFC 9111 §4.1). */
export function sameVariant(a: Entry, b: Entry): boolean {
  if (a.partition !== b.partition || !sameList(a.keyValues, b.keyValues)) return false;
  if (!sameList(a.varyNames, b.varyNames)) return false;
  return sameList(a.varyValues, b.varyValues);
}

function sameList<T>(a: readonly T[] | undefined, b: readonly T[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
