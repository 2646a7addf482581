/**
 * Finding the token, and refusing malformed ones before any crypto.
 *
 * Where: `Authorization: Bearer` (RFC 6750 §2.1; scheme case-insensitive, RFC 9110 §11.1), or
 * a configured header, or a cookie. Another scheme in Authorization (Basic) is "no token":
 * it belongs to another policy. A cookie named twice is ambiguous (RFC 6265 §5.4 leaves
 * the order to the client) and refused.
 *
 * What (RFC 7515 §7.1 compact form): three segments, each non-empty canonical base64url
 * (no padding, no stray characters, zero unused bits: otherwise one signature has many
 * spellings, which breaks token replay caches and deny lists keyed by the token string),
 * a header and a claims set that are UTF-8 JSON objects without duplicate member names,
 * finite NumericDates, and an `alg` from the pinned list. jose then checks the signature and claims.
 */
import type { RequestContext } from '../../request/context.ts';
import { hasDuplicateKeys } from './json.ts';

export type Found = { token: string; from: 'header' | 'cookie' } | 'none' | 'ambiguous';

const B64URL = /^[A-Za-z0-9_-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function findToken(ctx: RequestContext, header: string, cookie: string | undefined): Found {
  const v = ctx.req.headers[header];
  if (typeof v === 'string') {
    const t = bearer(v, header === 'authorization');
    if (t !== undefined) return { token: t, from: 'header' };
  } else if (v !== undefined) return 'ambiguous';
  if (cookie !== undefined) {
    const c = ctx.req.headers.cookie;
    if (c !== undefined) {
      const t = cookieValue(c, cookie);
      if (t !== undefined) return t === null ? 'ambiguous' : { token: t, from: 'cookie' };
    }
  }
  return 'none';
}

/** The token after `Bearer `; in a custom header the scheme is optional. */
function bearer(v: string, schemeRequired: boolean): string | undefined {
  if (v.length > 6 && v.slice(0, 6).toLowerCase() === 'bearer' && (v.charCodeAt(6) === 0x20 || v.charCodeAt(6) === 0x09)) return v.slice(7).trim();
  if (v.length === 6 && v.toLowerCase() === 'bearer') return '';
  return schemeRequired ? undefined : v.trim();
}

/** The cookie's value; null when the name appears twice. */
function cookieValue(header: string, name: string): string | undefined | null {
  let found: string | undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    if (found !== undefined) return null;
    found = part.slice(eq + 1).trim();
  }
  return found;
}

/** The same Cookie header without `name` (for hideCredentials); '' when nothing is left. */
export function withoutCookie(header: string, name: string): string {
  return header.split(';').filter((p) => { const eq = p.indexOf('='); return eq < 0 || p.slice(0, eq).trim() !== name; }).map((p) => p.trim()).join('; ');
}

export interface Decoded { header: Record<string, unknown>; payload: Record<string, unknown> }

/** Structural checks; undefined = malformed (refuse without touching keys). */
export function precheck(token: string, maxLength: number, algorithms: ReadonlySet<string>): Decoded | undefined {
  if (token.length > maxLength) return undefined;
  const a = token.indexOf('.');
  const b = a < 0 ? -1 : token.indexOf('.', a + 1);
  if (b < 0 || token.indexOf('.', b + 1) >= 0) return undefined;
  const segs = [token.slice(0, a), token.slice(a + 1, b), token.slice(b + 1)];
  for (const s of segs) if (!canonical(s)) return undefined;
  const header = jsonObject(segs[0]!);
  if (header === undefined || typeof header.alg !== 'string' || !algorithms.has(header.alg)) return undefined;
  const payload = jsonObject(segs[1]!);
  if (payload === undefined || !finiteDates(payload)) return undefined;
  return { header, payload };
}

/**
 * NumericDate claims (RFC 7519 §2) must be finite: `"exp":1e999` is valid JSON that
 * JSON.parse turns into Infinity, which jose's `exp <= now` check would read as
 * "never expires".
 */
function finiteDates(p: Record<string, unknown>): boolean {
  for (const c of ['exp', 'nbf', 'iat'] as const) {
    const v = p[c];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) return false;
  }
  return true;
}

function canonical(s: string): boolean {
  return s.length > 0 && s.length % 4 !== 1 && B64URL.test(s) && Buffer.from(s, 'base64url').toString('base64url') === s;
}

function jsonObject(seg: string): Record<string, unknown> | undefined {
  let text: string;
  let v: unknown;
  try {
    text = utf8.decode(Buffer.from(seg, 'base64url'));
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || hasDuplicateKeys(text)) return undefined;
  return v as Record<string, unknown>;
}
