/**
 * Cache-Control parsing (RFC 9111 §5.2). Response directives are parsed once, when a
 * response is stored; request directives only for requests that carry the header. A hit on
 * a request without Cache-Control parses nothing.
 *
 * Parsing rules chosen where the RFC leaves room:
 *  - names are case-insensitive (§5.2); a repeated directive: the first one counts (§4.2.1).
 *  - delta-seconds accept the token and the quoted form; above 2^31 they are 2^31 (§1.2.2).
 *  - an invalid max-age / s-maxage means "stale" (0): the conservative reading of §4.2.1.
 *  - the qualified forms `private="field"` and `no-cache="field"` are treated as the
 *    unqualified ones (§5.2.2.4, §5.2.2.7 allow that: it only makes the cache stricter).
 */

export interface ResponseDirectives {
  /** Seconds; undefined when absent. */
  readonly maxAge: number | undefined;
  readonly sMaxAge: number | undefined;
  readonly noStore: boolean;
  readonly noCache: boolean;
  readonly private: boolean;
  readonly public: boolean;
  readonly mustRevalidate: boolean;
  readonly proxyRevalidate: boolean;
  /** RFC 5861 §3, seconds. */
  readonly staleWhileRevalidate: number | undefined;
  /** RFC 5861 §4, seconds. */
  readonly staleIfError: number | undefined;
}

export interface RequestDirectives {
  readonly maxAge: number | undefined;
  /** Seconds; Infinity for a bare `max-stale` (any staleness). */
  readonly maxStale: number | undefined;
  readonly minFresh: number | undefined;
  readonly noCache: boolean;
  readonly noStore: boolean;
  readonly onlyIfCached: boolean;
  readonly staleIfError: number | undefined;
}

const MAX_DELTA = 2 ** 31;

/** Directive name (lower case) → value (unquoted) or true when it has none. First one wins. */
export function parseCacheControl(value: string | readonly string[] | undefined): Map<string, string | true> {
  const out = new Map<string, string | true>();
  if (value === undefined) return out;
  const s = typeof value === 'string' ? value : value.join(',');
  let i = 0;
  const n = s.length;
  while (i < n) {
    // Skip separators and whitespace before a directive.
    while (i < n && (s[i] === ',' || s[i] === ' ' || s[i] === '\t')) i++;
    let j = i;
    while (j < n && s[j] !== '=' && s[j] !== ',') j++;
    const name = s.slice(i, j).trim().toLowerCase();
    let val: string | true = true;
    if (j < n && s[j] === '=') {
      j++;
      while (j < n && (s[j] === ' ' || s[j] === '\t')) j++;
      if (s[j] === '"') {
        let k = j + 1;
        let v = '';
        while (k < n && s[k] !== '"') {
          if (s[k] === '\\' && k + 1 < n) k++;
          v += s[k];
          k++;
        }
        val = v;
        j = k + 1;
        while (j < n && s[j] !== ',') j++;
      } else {
        let k = j;
        while (k < n && s[k] !== ',') k++;
        val = s.slice(j, k).trim();
        j = k;
      }
    }
    if (name !== '' && !out.has(name)) out.set(name, val);
    i = j + 1;
  }
  return out;
}

/** delta-seconds (RFC 9111 §1.2.2): digits only; undefined when absent or invalid. */
export function deltaSeconds(v: string | true | undefined): number | undefined {
  if (v === undefined || v === true || !/^[0-9]+$/.test(v)) return undefined;
  const n = Number(v);
  return n > MAX_DELTA ? MAX_DELTA : n;
}

/** max-age / s-maxage: present but invalid counts as 0 (stale), absent as undefined. */
function lifetimeDirective(v: string | true | undefined): number | undefined {
  if (v === undefined) return undefined;
  return deltaSeconds(v) ?? 0;
}

export function parseResponseDirectives(value: string | readonly string[] | undefined): ResponseDirectives {
  const d = parseCacheControl(value);
  return {
    maxAge: lifetimeDirective(d.get('max-age')),
    sMaxAge: lifetimeDirective(d.get('s-maxage')),
    noStore: d.has('no-store'),
    noCache: d.has('no-cache'),
    private: d.has('private'),
    public: d.has('public'),
    mustRevalidate: d.has('must-revalidate'),
    proxyRevalidate: d.has('proxy-revalidate'),
    staleWhileRevalidate: deltaSeconds(d.get('stale-while-revalidate')),
    staleIfError: deltaSeconds(d.get('stale-if-error')),
  };
}

/** The request's directives; Pragma: no-cache counts only without Cache-Control (RFC 9111 §5.4). */
export function parseRequestDirectives(cacheControl: string | readonly string[] | undefined, pragma: string | readonly string[] | undefined): RequestDirectives | undefined {
  if (cacheControl === undefined) {
    if (pragma === undefined) return undefined;
    const p = typeof pragma === 'string' ? pragma : pragma.join(',');
    return /(^|,)\s*no-cache\s*(,|$)/i.test(p) ? PRAGMA_NO_CACHE : undefined;
  }
  const d = parseCacheControl(cacheControl);
  const ms = d.get('max-stale');
  return {
    // An invalid request max-age asks for nothing older than 0 s: revalidate.
    maxAge: lifetimeDirective(d.get('max-age')),
    maxStale: ms === undefined ? undefined : ms === true ? Infinity : deltaSeconds(ms),
    minFresh: deltaSeconds(d.get('min-fresh')),
    noCache: d.has('no-cache'),
    noStore: d.has('no-store'),
    onlyIfCached: d.has('only-if-cached'),
    staleIfError: deltaSeconds(d.get('stale-if-error')),
  };
}

const PRAGMA_NO_CACHE: RequestDirectives = Object.freeze({
  maxAge: undefined, maxStale: undefined, minFresh: undefined,
  noCache: true, noStore: false, onlyIfCached: false, staleIfError: undefined,
});
