/**
 * Who is the client, and what the gateway tells the upstream about it.
 *
 * Forwarding headers are client-controlled text unless the peer that sent them is a proxy
 * we trust (CWE-348 "use of less trusted source", CWE-290 spoofing-based allow-list bypass).
 * So:
 * - No trusted proxies, or an untrusted peer: the client is the socket address, and the
 *   client's X-Forwarded-* headers are dropped, not passed on.
 * - Trusted peer: X-Forwarded-For (every header line, in order, RFC 9110 §5.3) is read right
 *   to left, skipping trusted proxies; the first untrusted entry is the client. Entries left
 *   of it were written by the client and are never read. If all are trusted, the left-most wins.
 * - A malformed entry met on that walk fails closed: the client address is '' and allow-lists
 *   must treat '' as not allowed. Empty list elements are ignored (RFC 9110 §5.6.1).
 *   Accepted entry spellings: a bare address, `[v6]`, `[v6]:port` and `v4:port` (some load
 *   balancers append the port); the port is dropped. `unknown` and obfuscated identifiers
 *   (RFC 7239 §6.3) are malformed here, since they cannot be allow-listed.
 * - Addresses are returned canonical (RFC 5952 for IPv6; IPv4-mapped IPv6 as dotted IPv4,
 *   RFC 4291 §2.5.5.2) so one client has one spelling in logs, rate-limit keys and allow-lists.
 */
import type { IncomingMessage } from 'node:http';
import { CidrSet, canonicalIp, parseV4 } from './cidr.ts';
import { normalizeAuthority } from './normalize.ts';

export class TrustedProxies {
  readonly empty: boolean;
  private readonly set: CidrSet;

  /** Throws an Error naming the entry when a CIDR is invalid. */
  constructor(cidrs: readonly string[]) {
    this.set = new CidrSet(cidrs);
    this.empty = this.set.size === 0;
  }

  has(ip: string): boolean {
    return !this.empty && this.set.contains(ip);
  }
}

/** The socket's peer address; IPv4-mapped IPv6 becomes dotted IPv4. '' when the socket is gone. */
export function peerAddress(req: IncomingMessage): string {
  // Node drops the request's socket once the connection is gone.
  const a = (req.socket as typeof req.socket | null)?.remoteAddress;
  if (a === undefined) return '';
  if (a.length > 7 && a.startsWith('::ffff:') && parseV4(a, 7, a.length) >= 0) return a.slice(7);
  return a;
}

function fromTrustedPeer(peer: string, trusted: TrustedProxies): boolean {
  return peer !== '' && trusted.has(peer);
}

/** Every line of a header from rawHeaders, in order, joined by `sep`; undefined when absent. */
function headerLines(req: IncomingMessage, lowerName: string, sep: string): string | undefined {
  const raw = req.rawHeaders;
  let out: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) {
      out = out === undefined ? raw[i + 1]! : out + sep + raw[i + 1]!;
    }
  }
  return out;
}

/** One X-Forwarded-For element (already trimmed) → canonical address, or undefined. */
export function parseForwardedEntry(e: string): string | undefined {
  if (e.charCodeAt(0) === 0x5b /* [ */) {
    const close = e.indexOf(']');
    if (close < 0 || (close + 1 < e.length && !isPort(e, close + 1))) return undefined;
    const inner = e.slice(1, close);
    return inner.indexOf(':') < 0 ? undefined : canonicalIp(inner);
  }
  const first = e.indexOf(':');
  if (first >= 0 && e.indexOf(':', first + 1) < 0) {
    // Exactly one ':' cannot be IPv6 (it needs at least two), so this is v4:port.
    if (!isPort(e, first)) return undefined;
    const a = parseV4(e, 0, first);
    return a < 0 ? undefined : e.slice(0, first);
  }
  return canonicalIp(e);
}

/** e[at] === ':' followed by 1-5 digits ≤ 65535 up to the end. */
function isPort(e: string, at: number): boolean {
  if (e.charCodeAt(at) !== 0x3a) return false;
  const n = e.length - at - 1;
  if (n < 1 || n > 5) return false;
  let port = 0;
  for (let i = at + 1; i < e.length; i++) {
    const d = e.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    port = port * 10 + d;
  }
  return port <= 65535;
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** The client's address (see the file comment). '' means "unknown": never allow-listed. */
export function clientAddress(req: IncomingMessage, trusted: TrustedProxies): string {
  const peer = peerAddress(req);
  if (!fromTrustedPeer(peer, trusted)) return peer;
  const xff = headerLines(req, 'x-forwarded-for', ',');
  if (xff === undefined) return peer;
  let leftmost: string | undefined;
  let end = xff.length;
  for (let i = xff.length - 1; i >= -1; i--) {
    if (i >= 0 && xff.charCodeAt(i) !== 0x2c /* , */) continue;
    let s = i + 1;
    let e = end;
    end = i;
    while (s < e && isOws(xff.charCodeAt(s))) s++;
    while (e > s && isOws(xff.charCodeAt(e - 1))) e--;
    if (s === e) continue; // empty list element
    const ip = parseForwardedEntry(xff.slice(s, e));
    if (ip === undefined) return ''; // fail closed
    if (!trusted.has(ip)) return ip;
    leftmost = ip;
  }
  return leftmost ?? peer;
}

/**
 * The three X-Forwarded-* headers to send upstream, pushed as pairs onto `out`. The socket
 * address is read and checked against the trusted proxies once; from an untrusted peer
 * (the common case) nothing the client wrote is looked at.
 */
export function pushForwarded(out: string[], req: IncomingMessage, trusted: TrustedProxies, ownHost: string): void {
  const peer = peerAddress(req);
  if (fromTrustedPeer(peer, trusted)) {
    out.push('x-forwarded-for', forwardedFor(req, trusted), 'x-forwarded-proto', forwardedProto(req, trusted), 'x-forwarded-host', forwardedHost(req, trusted, ownHost));
    return;
  }
  out.push('x-forwarded-for', peer, 'x-forwarded-proto', (req.socket as { encrypted?: boolean } | null)?.encrypted === true ? 'https' : 'http', 'x-forwarded-host', ownHost);
}

/**
 * X-Forwarded-For to send upstream: the incoming chain (only from a trusted peer, verbatim,
 * lines joined by ', ') followed by the socket address.
 */
export function forwardedFor(req: IncomingMessage, trusted: TrustedProxies): string {
  const peer = peerAddress(req);
  if (!fromTrustedPeer(peer, trusted)) return peer;
  const chain = headerLines(req, 'x-forwarded-for', ', ');
  if (chain === undefined || chain.trim() === '') return peer;
  return chain + ', ' + peer;
}

/** Right-most list element of a header, trimmed; undefined when absent or empty. */
function lastElement(req: IncomingMessage, lowerName: string): string | undefined {
  const v = headerLines(req, lowerName, ',');
  if (v === undefined) return undefined;
  const last = v.slice(v.lastIndexOf(',') + 1).trim();
  return last === '' ? undefined : last;
}

/**
 * X-Forwarded-Proto to send upstream. From a trusted peer, its value when it is http/https;
 * with several values the right-most (written by the trusted peer itself; left ones may
 * be the client's). Otherwise the gateway's own scheme.
 */
export function forwardedProto(req: IncomingMessage, trusted: TrustedProxies): 'http' | 'https' {
  const own = (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
  if (!fromTrustedPeer(peerAddress(req), trusted)) return own;
  const v = lastElement(req, 'x-forwarded-proto')?.toLowerCase();
  return v === 'http' || v === 'https' ? v : own;
}

/**
 * X-Forwarded-Host to send upstream. From a trusted peer, its right-most value when it is a
 * valid host[:port] (lower-cased); otherwise `ownHost` (default: the Host header; pass the
 * absolute-form authority when there was one, RFC 9112 §3.2.2).
 */
export function forwardedHost(req: IncomingMessage, trusted: TrustedProxies, ownHost: string = req.headers.host ?? ''): string {
  if (!fromTrustedPeer(peerAddress(req), trusted)) return ownHost;
  const v = lastElement(req, 'x-forwarded-host');
  const host = v === undefined ? undefined : normalizeAuthority(v);
  return host ?? ownHost;
}
