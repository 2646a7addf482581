/**
 * Freshness, age and storability (RFC 9111 §3, §4.2), as pure functions of a response and
 * its timing, so they are unit-tested without a server. All times are epoch milliseconds.
 */
import type { RequestDirectives, ResponseDirectives } from './directives.ts';
import { parseHttpDate } from './http-date.ts';

/** Status codes "heuristically cacheable" (RFC 9110 §15.1): stored without explicit freshness. */
export const HEURISTIC_STATUSES: ReadonlySet<number> = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

export type Headers = Record<string, string | string[]>;

/** First value of a header that must occur once (Date, Expires, Age, ETag, Last-Modified). */
export function single(h: Headers, name: string): string | undefined {
  const v = h[name];
  return typeof v === 'string' ? v : v?.[0];
}

export { parseHttpDate };

/**
 * Freshness lifetime in ms (RFC 9111 §4.2.1): s-maxage (shared caches), else max-age, else
 * Expires − Date, else the heuristic `heuristicMs` (the `ttl` setting, §4.2.2) for
 * heuristically cacheable statuses or `public` responses. undefined: nothing allows one.
 * `targeted`: `cc` came from a targeted field (targeted.ts), so Expires does not count.
 * `dateMs` is the response's Date (or the time it arrived when it had none).
 */
export function freshnessLifetime(cc: ResponseDirectives, h: Headers, status: number, dateMs: number, heuristicMs: number, targeted = false): number | undefined {
  if (cc.sMaxAge !== undefined) return cc.sMaxAge * 1000;
  if (cc.maxAge !== undefined) return cc.maxAge * 1000;
  // A targeted field (CDN-Cache-Control) replaces Expires too (RFC 9213 §2.1).
  const exp = targeted ? undefined : h.expires;
  if (exp !== undefined) {
    // Two Expires lines, or an invalid date such as "0", mean already expired (§5.3).
    const at = typeof exp === 'string' ? parseHttpDate(exp) : undefined;
    return at === undefined ? 0 : Math.max(0, at - dateMs);
  }
  if (heuristicMs > 0 && (HEURISTIC_STATUSES.has(status) || cc.public)) return heuristicMs;
  return undefined;
}

/**
 * corrected_initial_age of RFC 9111 §4.2.3, in ms: the larger of the apparent age (our
 * receipt time minus the origin's Date) and the upstream's Age plus the round trip.
 * The current age is then `corrected_initial_age + (now − responseTime)`.
 */
export function correctedInitialAge(ageHeader: string | undefined, dateMs: number, requestTime: number, responseTime: number): number {
  const apparent = Math.max(0, responseTime - dateMs);
  const age = ageSeconds(ageHeader);
  const ageValue = age === undefined ? 0 : age * 1000;
  const corrected = ageValue + Math.max(0, responseTime - requestTime);
  return Math.max(apparent, corrected);
}

/**
 * The Age field in seconds (RFC 9111 §5.1), from its first line: a list (`7200, 0`) counts
 * by its first member; a value that is not delta-seconds is ignored (undefined).
 */
export function ageSeconds(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const comma = v.indexOf(',');
  const first = (comma < 0 ? v : v.slice(0, comma)).trim();
  return /^[0-9]+$/.test(first) ? Math.min(Number(first), 2 ** 31) : undefined;
}

/** Why a response is not stored (tests and debug logs), or undefined when it may be. */
export function notStorable(status: number, cc: ResponseDirectives, h: Headers, o: { authorized: boolean; storeSetCookie: boolean }): string | undefined {
  // 206 would need range assembly (§3.3), 304 is not a representation; 1xx never get here.
  if (status < 200 || status === 206 || status === 304) return 'status';
  if (cc.noStore) return 'no-store';
  if (cc.private) return 'private'; // §5.2.2.7: a shared cache must not store it
  if (h['set-cookie'] !== undefined && !o.storeSetCookie) return 'set-cookie';
  // §3.5: a response to an authenticated request is shared only when it says so.
  if (o.authorized && !(cc.public || cc.mustRevalidate || cc.sMaxAge !== undefined)) return 'authorization';
  return undefined;
}

/** The request headers a stored response varies on (§4.1), lower case; ['*'] for `Vary: *`. */
export function varyNames(h: Headers): string[] {
  const v = h.vary;
  if (v === undefined) return [];
  const names: string[] = [];
  for (const part of (typeof v === 'string' ? v : v.join(',')).split(',')) {
    const n = part.trim().toLowerCase();
    if (n === '*') return ['*'];
    if (n !== '' && !names.includes(n)) names.push(n);
  }
  return names;
}

/** What may be done with a stored response for a request (see decide()). */
export const FRESH = 0;
/** Stale but the client accepts it (max-stale): serve, no refresh. */
export const STALE_OK = 1;
/** Stale within stale-while-revalidate: serve and refresh in the background. */
export const STALE_REFRESH = 2;
/** Must be validated with the upstream before use. */
export const REVALIDATE = 3;

/** The timing facts decide() needs from a stored response. */
export interface Timing {
  /** Epoch ms the response was "born" (responseTime − corrected_initial_age): age = now − ageBase. */
  readonly ageBase: number;
  readonly lifetime: number;
  /** ageBase + lifetime; −Infinity when it must always be revalidated (no-cache). */
  readonly freshUntil: number;
  /** must-revalidate, proxy-revalidate, s-maxage or no-cache: never served stale (§4.2.4). */
  readonly noStale: boolean;
  /** stale-while-revalidate window in ms (−1: none). */
  readonly swr: number;
}

/**
 * RFC 9111 §4.2 and §5.2.1 for one request. Without request directives a stored response is
 * fresh, servable stale while revalidating (RFC 5861), or must be revalidated.
 */
export function decide(e: Timing, now: number, rd: RequestDirectives | undefined): number {
  const fresh = now < e.freshUntil;
  const staleness = now - e.ageBase - e.lifetime;
  if (rd === undefined) {
    if (fresh) return FRESH;
    return !e.noStale && staleness <= e.swr ? STALE_REFRESH : REVALIDATE;
  }
  // max-age=0 is how clients (a browser's reload) ask for revalidation; read it as no-cache,
  // not as "age <= 0 s", which a response stored in the same millisecond would still meet.
  if (rd.noCache || rd.maxAge === 0) return REVALIDATE;
  const age = now - e.ageBase;
  if (rd.maxAge !== undefined && age > rd.maxAge * 1000) return REVALIDATE;
  if (fresh) {
    if (rd.minFresh !== undefined && e.lifetime - age < rd.minFresh * 1000) return REVALIDATE;
    return FRESH;
  }
  if (e.noStale) return REVALIDATE;
  if (rd.maxStale !== undefined && staleness <= rd.maxStale * 1000) return STALE_OK;
  // The client asked for a bound on age or freshness: no stale answer it did not allow.
  if (rd.maxAge === undefined && rd.minFresh === undefined && staleness <= e.swr) return STALE_REFRESH;
  return REVALIDATE;
}

/** May a stored response stand in for a failed or 5xx upstream answer (RFC 5861 §4)? */
export function staleOnErrorAllowed(e: Timing & { readonly sie: number }, now: number, rd: RequestDirectives | undefined): boolean {
  if (e.noStale) return false;
  const window = Math.max(e.sie, rd?.staleIfError !== undefined ? rd.staleIfError * 1000 : -1);
  return window >= 0 && now - e.ageBase - e.lifetime <= window;
}
