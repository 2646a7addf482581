/**
 * Request-target normalisation. The gateway normalises ONCE and then routes, authorises and
 * forwards that same string, so a path can never mean one thing to the gateway and another
 * to the upstream (path-confusion / ACL-bypass class: CVE-2021-41773 Apache `%2e`,
 * CVE-2021-28164 Jetty `/%2e/WEB-INF`, CVE-2020-1957 Shiro `/..;/`, CVE-2000-0884 IIS overlong UTF-8).
 *
 * Rules, and why:
 * - Forms (RFC 9112 §3.2): origin-form `/p?q` and absolute-form `http(s)://authority/p?q`
 *   (§3.2.2: the authority then wins over Host; userinfo is refused, RFC 9110 §4.2.4).
 *   Asterisk-form, authority-form and anything else → GW_BAD_REQUEST. A '#' anywhere → GW_BAD_REQUEST
 *   (a fragment is never sent in a request target, RFC 9112 §3.2).
 * - %XX of unreserved characters is decoded, every other %XX gets upper-case hex
 *   (RFC 3986 §6.2.2.1-2). Decoding happens once: `%252e` is the three characters `%2e`, never '.'
 *   (double-decoding class, CVE-2001-0333 IIS `..%255c`).
 * - Refused (GW_BAD_PATH): `%2F` and `%5C` (an encoded separator is a second spelling of
 *   a path boundary for upstreams that decode before splitting), raw '\' (a separator on
 *   Windows / in WHATWG URL parsing), controls raw or encoded (0x00-0x1F, 0x7F: NUL
 *   truncation, log/header injection), raw space, raw bytes > 0x7E (clients must
 *   percent-encode), malformed escapes, and percent-encoded bytes that are not well-formed
 *   UTF-8 (RFC 3629 §10: overlong `%C0%AE` is '.' to a lax decoder). Legacy Latin-1
 *   percent-encoding (`%E9` alone) is therefore refused too; RFC 3986 §2.5 says UTF-8.
 * - Repeated '/' merge into one; '.' and '..' segments (also when spelled `%2e`) are removed
 *   per RFC 3986 §5.2.4; a '..' that would climb above the root is refused, not clamped.
 * - A raw ';' in the path (segment parameters, RFC 3986 §3.3) is refused with GW_BAD_REQUEST
 *   unless the caller allows it (node.paths.allowSemicolon): servlet containers and routers
 *   with a semicolon delimiter strip `;params` (`/admin;x` serves `/admin`) while the route
 *   table would read `/admin;x` as another path. Allowed, it is routed and forwarded byte for
 *   byte. Either way a dot segment carrying parameters (`/..;/`, `/.;x/`) is GW_BAD_PATH:
 *   Tomcat strips the parameters and then resolves `..`. `%3B` is data, never a delimiter.
 * - The query is kept verbatim; only controls, space and '#' are refused (GW_BAD_REQUEST).
 *
 * Fast path: a target made of unreserved characters and single slashes (plus a query) is
 * checked in one scan and returned as slices of the input.
 */
import { parseV6 } from './cidr.ts';

export type NormalizedTarget = { path: string; rawQuery: string; authority?: string } | { error: 'GW_BAD_PATH' | 'GW_BAD_REQUEST' };

type Failure = { readonly error: 'GW_BAD_PATH' | 'GW_BAD_REQUEST' };
const BAD_PATH: Failure = Object.freeze({ error: 'GW_BAD_PATH' });
const BAD_REQUEST: Failure = Object.freeze({ error: 'GW_BAD_REQUEST' });

const SLASH = 0x2f;
const DOT = 0x2e;
const QMARK = 0x3f;
const PCT = 0x25;
const COLON = 0x3a;
const SEMICOLON = 0x3b;

// Character classes of raw ASCII bytes in a path.
const C_BAD = 0; // controls, space, '\', DEL: GW_BAD_PATH
const C_UNRESERVED = 1; // ALPHA DIGIT - . _ ~ (RFC 3986 §2.3)
const C_OTHER = 2; // other printable ASCII, copied as is (sub-delims, ':', '@', '"', '<', '[', '^', '|' ...)
const C_HASH = 3; // '#': a fragment, GW_BAD_REQUEST

const CLASS = new Uint8Array(128);
for (let c = 0x21; c < 0x7f; c++) CLASS[c] = C_OTHER;
for (const ch of '-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz') CLASS[ch.charCodeAt(0)] = C_UNRESERVED;
CLASS[0x5c] = C_BAD; // '\'
CLASS[0x23] = C_HASH;

const HEX = '0123456789ABCDEF';

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/** `allowSemicolon`: false refuses a raw ';' in the path (GW_BAD_REQUEST); true keeps it as an ordinary character. */
export function normalizeTarget(target: string, allowSemicolon: boolean): NormalizedTarget {
  const len = target.length;
  if (len === 0 || target.charCodeAt(0) !== SLASH) return absoluteForm(target, allowSemicolon);
  // Fast path: one scan; any character outside [unreserved '/'], an empty segment or a
  // segment of one or two dots sends the target to the full parser.
  let segStart = 1;
  let dotsOnly = true;
  let i = 1;
  for (; i < len; i++) {
    const c = target.charCodeAt(i);
    if (c === SLASH) {
      const n = i - segStart;
      if (n === 0 || (dotsOnly && n <= 2)) return slowOrigin(target, allowSemicolon);
      segStart = i + 1;
      dotsOnly = true;
    } else if (c < 128 && CLASS[c] === C_UNRESERVED) {
      if (c !== DOT) dotsOnly = false;
    } else if (c === QMARK) {
      break;
    } else {
      return slowOrigin(target, allowSemicolon);
    }
  }
  if (dotsOnly && i - segStart > 0 && i - segStart <= 2) return slowOrigin(target, allowSemicolon);
  if (i === len) return { path: target, rawQuery: '' };
  const q = scanQuery(target, i + 1);
  if (q === undefined) return BAD_REQUEST;
  return { path: target.slice(0, i), rawQuery: q };
}

function slowOrigin(target: string, allowSemicolon: boolean): NormalizedTarget {
  const path = parsePath(target, 0, allowSemicolon);
  if (typeof path !== 'string') return path;
  let rawQuery = '';
  if (pathEnd < target.length) {
    const q = scanQuery(target, pathEnd + 1);
    if (q === undefined) return BAD_REQUEST;
    rawQuery = q;
  }
  return { path, rawQuery };
}

/** The query after '?', verbatim; undefined when it holds a control, space or '#'. */
function scanQuery(t: string, from: number): string | undefined {
  for (let i = from; i < t.length; i++) {
    const c = t.charCodeAt(i);
    // > 0xFF cannot come from Node's latin1 target and could not be forwarded as received.
    if (c <= 0x20 || c === 0x7f || c === 0x23 || c > 0xff) return undefined;
  }
  return from >= t.length ? '' : t.slice(from);
}

/** Where parsePath stopped: the index of the '?' or the end. Valid right after a successful call. */
let pathEnd = 0;

/** Full path parser from t[start] === '/' up to the first '?'. */
function parsePath(t: string, start: number, allowSemicolon: boolean): string | Failure {
  const len = t.length;
  const segs: string[] = [];
  let i = start;
  while (i < len && t.charCodeAt(i) !== QMARK) {
    while (i < len && t.charCodeAt(i) === SLASH) i++; // merge repeated '/'
    let seg = '';
    let semicolon = false; // a raw ';' in this segment (decoded %3B stays '%3B', never ';')
    let run = i;
    let need = 0; // UTF-8 continuation bytes still expected
    let lo = 0x80;
    let hi = 0xbf;
    for (; i < len; i++) {
      const c = t.charCodeAt(i);
      if (c === SLASH || c === QMARK) break;
      if (c === PCT) {
        const h1 = i + 1 < len ? hexVal(t.charCodeAt(i + 1)) : -1;
        const h2 = i + 2 < len ? hexVal(t.charCodeAt(i + 2)) : -1;
        if (h1 < 0 || h2 < 0) return BAD_PATH;
        const v = h1 * 16 + h2;
        if (need > 0) {
          if (v < lo || v > hi) return BAD_PATH;
          need--;
          lo = 0x80;
          hi = 0xbf;
        } else if (v >= 0x80) {
          // Lead byte, RFC 3629 §4: no C0/C1 (overlong), no surrogates (ED A0+), ≤ U+10FFFF.
          if (v >= 0xc2 && v <= 0xdf) need = 1;
          else if (v >= 0xe0 && v <= 0xef) { need = 2; if (v === 0xe0) lo = 0xa0; else if (v === 0xed) hi = 0x9f; }
          else if (v >= 0xf0 && v <= 0xf4) { need = 3; if (v === 0xf0) lo = 0x90; else if (v === 0xf4) hi = 0x8f; }
          else return BAD_PATH;
        } else if (v < 0x20 || v === 0x7f || v === SLASH || v === 0x5c) {
          return BAD_PATH;
        }
        if (i > run) seg += t.slice(run, i);
        seg += v < 0x80 && CLASS[v] === C_UNRESERVED ? String.fromCharCode(v) : '%' + HEX[v >> 4]! + HEX[v & 15]!;
        i += 2;
        run = i + 1;
        continue;
      }
      if (need > 0) return BAD_PATH; // truncated UTF-8 sequence
      const cls = c < 128 ? CLASS[c] : C_BAD;
      if (cls === C_BAD) return BAD_PATH;
      if (cls === C_HASH) return BAD_REQUEST;
      if (c === SEMICOLON) semicolon = true;
    }
    if (need > 0) return BAD_PATH;
    if (i > run) seg += t.slice(run, i);
    const last = i >= len || t.charCodeAt(i) === QMARK;
    if (seg === '.' || seg === '..') {
      if (seg === '..') {
        if (segs.length === 0) return BAD_PATH; // would climb above the root
        segs.pop();
      }
      if (last) segs.push(''); // "/a/." → "/a/", "/a/b/.." → "/a/" (RFC 3986 §5.2.4)
      continue;
    }
    if (seg.charCodeAt(0) === DOT && (seg.startsWith('.;') || seg.startsWith('..;'))) return BAD_PATH;
    if (semicolon && !allowSemicolon) return BAD_REQUEST;
    segs.push(seg);
  }
  pathEnd = i;
  return '/' + segs.join('/');
}

/** Case-insensitive prefix test; `prefix` is lower-case. Only ASCII letters fold. */
function startsWithLower(t: string, prefix: string): boolean {
  if (t.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    const c = t.charCodeAt(i);
    const p = prefix.charCodeAt(i);
    if (c !== p && !(p >= 97 && p <= 122 && c === p - 32)) return false;
  }
  return true;
}

function absoluteForm(t: string, allowSemicolon: boolean): NormalizedTarget {
  let i: number;
  if (startsWithLower(t, 'http://')) i = 7;
  else if (startsWithLower(t, 'https://')) i = 8;
  else return BAD_REQUEST; // asterisk-form, authority-form, other schemes, relative junk
  let e = i;
  while (e < t.length && t.charCodeAt(e) !== SLASH && t.charCodeAt(e) !== QMARK) e++;
  const authority = parseAuthority(t, i, e);
  if (authority === undefined) return BAD_REQUEST;
  if (e === t.length) return { path: '/', rawQuery: '', authority };
  if (t.charCodeAt(e) === QMARK) {
    const q = scanQuery(t, e + 1);
    return q === undefined ? BAD_REQUEST : { path: '/', rawQuery: q, authority };
  }
  const path = parsePath(t, e, allowSemicolon);
  if (typeof path !== 'string') return path;
  let rawQuery = '';
  if (pathEnd < t.length) {
    const q = scanQuery(t, pathEnd + 1);
    if (q === undefined) return BAD_REQUEST;
    rawQuery = q;
  }
  return { path, rawQuery, authority };
}

/** A whole `host[:port]` string (Host, X-Forwarded-Host) → lower-case, or undefined when invalid. */
export function normalizeAuthority(s: string): string | undefined {
  return parseAuthority(s, 0, s.length);
}

/**
 * host[:port] → lower-case; undefined when invalid. Host is a DNS-style name of unreserved
 * characters or a bracketed IPv6 literal; no userinfo ('@'), no percent-encoding, no zone id.
 * An empty port (`host:`) is dropped (RFC 3986 §6.2.3).
 */
function parseAuthority(t: string, s: number, e: number): string | undefined {
  let h = s;
  if (h < e && t.charCodeAt(h) === 0x5b /* [ */) {
    const close = t.indexOf(']', h);
    if (close < 0 || close >= e || !isV6Literal(t.slice(h + 1, close))) return undefined;
    h = close + 1;
  } else {
    while (h < e && t.charCodeAt(h) < 128 && CLASS[t.charCodeAt(h)] === C_UNRESERVED) h++;
    if (h === s) return undefined;
  }
  if (h === e) return t.slice(s, e).toLowerCase();
  if (t.charCodeAt(h) !== COLON) return undefined; // '@' (userinfo) or another stray character
  const digits = e - h - 1;
  if (digits === 0) return t.slice(s, h).toLowerCase();
  if (digits > 5) return undefined;
  let port = 0;
  for (let k = h + 1; k < e; k++) {
    const d = t.charCodeAt(k) - 48;
    if (d < 0 || d > 9) return undefined;
    port = port * 10 + d;
  }
  if (port > 65535) return undefined;
  return t.slice(s, e).toLowerCase();
}

const v6scratch = new Uint32Array(4);
function isV6Literal(s: string): boolean {
  return s.indexOf(':') >= 0 && parseV6(s, 0, s.length, v6scratch);
}
