/**
 * Header rules for both directions (RFC 9110 §7.6.1): hop-by-hop headers and every header
 * named in Connection are dropped; the gateway's own headers are added after that, so a
 * client's `Connection: x-request-id` can never remove them. Identity headers
 * (X-Consumer-*, X-Authenticated-*) are set only by the gateway, never passed from clients.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

/** Client headers the gateway replaces with its own values (or that undici must not get). */
const GATEWAY_OWNED = new Set(['host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded', 'x-real-ip', 'x-request-id', 'traceparent', 'expect', 'content-length']);

export function isIdentityHeader(name: string): boolean {
  // CGI-style upstreams (WSGI, PHP, Rack) read '_' as '-': X_Consumer_Name is X-Consumer-Name
  // to them (CVE-2015-0219 class), so both spellings are the gateway's.
  const n = name.indexOf('_') < 0 ? name : name.replaceAll('_', '-');
  return n.startsWith('x-consumer-') || n.startsWith('x-authenticated-');
}

/** Tokens listed in a Connection header, lower-case (RFC 9110 §7.6.1), excluding close/keep-alive. */
export function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (!value) return undefined;
  // The common values name no header: skip the split (runs on most requests and responses).
  if (value === 'keep-alive' || value === 'close' || value === 'Keep-Alive' || value === 'Close') return undefined;
  let out: Set<string> | undefined;
  for (const raw of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const t = raw.trim().toLowerCase();
    if (t && t !== 'close' && t !== 'keep-alive') (out ??= new Set()).add(t);
  }
  return out;
}

/**
 * Client request headers to forward, as a flat [name, value, ...] list. Reads `req.headers`
 * (Node's parsed view) so the headers forwarded are exactly the ones policies inspected.
 */
export function forwardableRequestHeaders(headers: NodeJS.Dict<string | string[]>, out: string[], drop: ReadonlySet<string> | undefined): void {
  const conn = headers.connection === undefined ? undefined : connectionTokens(headers.connection);
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || GATEWAY_OWNED.has(name)) continue;
    if (name.charCodeAt(0) === 120 /* x */ && isIdentityHeader(name)) continue;
    // X_Forwarded_For, X_Real_IP, ...: a CGI-style upstream reads them as the gateway's own headers.
    if (name.indexOf('_') >= 0 && GATEWAY_OWNED.has(name.replaceAll('_', '-'))) continue;
    if ((conn !== undefined && conn.has(name)) || (drop !== undefined && drop.has(name))) continue;
    const v = headers[name];
    if (v === undefined) continue;
    if (typeof v === 'string') out.push(name, v);
    else for (const one of v) out.push(name, one);
  }
}

/** Upstream response headers not passed on: hop-by-hop, and the request id the gateway sets itself. */
const RESPONSE_DROP = new Set([...HOP_BY_HOP, 'x-request-id']);
/** Lengths of those names: only a name of one of these lengths needs lower-casing to check. */
const DROP_LENGTHS = new Set([...RESPONSE_DROP].map((h) => h.length));

/**
 * Upstream response headers (raw pairs: strings from the h1 client, latin1 Buffers from
 * undici) to a flat list for res.writeHead, without hop-by-hop headers, without those the
 * upstream named in its Connection header, and without its X-Request-Id (the gateway sends
 * the request's own, once). Names
 * keep the upstream's case (HTTP names are case-insensitive); flatToObject lower-cases them.
 */
export function forwardableResponseHeaders(raw: readonly (string | Buffer)[]): string[] {
  const out: string[] = [];
  let conn: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = latin1(raw[i]!);
    if (DROP_LENGTHS.has(name.length)) {
      const lower = name.toLowerCase();
      if (RESPONSE_DROP.has(lower)) {
        if (lower === 'connection') conn = connectionTokens(latin1(raw[i + 1]!));
        continue;
      }
    }
    out.push(name, latin1(raw[i + 1]!));
  }
  if (conn) {
    const kept: string[] = [];
    for (let i = 0; i < out.length; i += 2) if (!conn.has(out[i]!.toLowerCase())) kept.push(out[i]!, out[i + 1]!);
    return kept;
  }
  return out;
}

/**
 * The upstream's flat header list with the gateway's headers set over it: `fixed` (flat,
 * lower-case names) then `dynamic` (lower-case names) replace any upstream header of the
 * same name, compared case-insensitively. Arrays in `dynamic` become repeated headers.
 */
export function withGatewayHeaders(flat: string[], fixed: readonly string[], dynamic: Readonly<Record<string, string | string[]>> | undefined): string[] {
  // Compacted in place: the list is the caller's own.
  let w = 0;
  for (let i = 0; i < flat.length; i += 2) {
    const n = flat[i]!;
    if (!isGatewayName(n, fixed, dynamic)) { flat[w++] = n; flat[w++] = flat[i + 1]!; }
  }
  flat.length = w;
  const out = flat;
  for (let i = 0; i < fixed.length; i += 2) out.push(fixed[i]!, fixed[i + 1]!);
  if (dynamic !== undefined) {
    for (const k in dynamic) {
      const v = dynamic[k]!;
      if (typeof v === 'string') out.push(k, v);
      else for (const one of v) out.push(k, one);
    }
  }
  return out;
}

function isGatewayName(n: string, fixed: readonly string[], dynamic: Readonly<Record<string, unknown>> | undefined): boolean {
  let lower: string | undefined;
  for (let j = 0; j < fixed.length; j += 2) {
    const g = fixed[j]!;
    if (g.length === n.length && (g === n || g === (lower ??= n.toLowerCase()))) return true;
  }
  if (dynamic !== undefined) {
    for (const g in dynamic) if (g.length === n.length && (g === n || g === (lower ??= n.toLowerCase()))) return true;
  }
  return false;
}

function latin1(v: string | Buffer): string {
  return typeof v === 'string' ? v : v.toString('latin1');
}

/** Flat list → object (for response hooks), joining repeats except set-cookie. */
export function flatToObject(flat: readonly string[]): Record<string, string | string[]> {
  const o: Record<string, string | string[]> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i]!.toLowerCase();
    const v = flat[i + 1]!;
    const cur = o[k];
    if (cur === undefined) o[k] = v;
    else if (Array.isArray(cur)) cur.push(v);
    else o[k] = [cur, v];
  }
  return o;
}
