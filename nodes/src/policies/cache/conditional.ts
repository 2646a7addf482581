/**
 * Validators on both sides of the cache (RFC 9110 §13, RFC 9111 §4.3):
 *  - a client's conditional GET answered from a stored response (304 when it matches);
 *  - the cache's own conditional request to the upstream, and which stored response a
 *    304 from it may update.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { parseHttpDate } from './freshness.ts';

const ETAG = /(?:W\/)?"[^"]*"/g;

/** The opaque tag without the weak marker: If-None-Match uses the weak comparison (§8.8.3.2). */
function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** If-None-Match matches `etag`: `*`, or any listed tag under weak comparison. */
export function noneMatchHits(value: string, etag: string): boolean {
  if (value.trim() === '*') return true;
  const want = opaque(etag.trim());
  for (const m of value.matchAll(ETAG)) if (opaque(m[0]) === want) return true;
  return false;
}

/**
 * May the client's conditional GET/HEAD be answered 304 from this stored response?
 * If-None-Match wins; If-Modified-Since counts only without it (RFC 9110 §13.1.3), against
 * Last-Modified or else Date (RFC 9111 §4.3.2).
 */
export function clientHasCurrent(h: IncomingHttpHeaders, etag: string | undefined, modifiedMs: number | undefined): boolean {
  const inm = h['if-none-match'];
  if (inm !== undefined) return etag !== undefined && noneMatchHits(inm, etag);
  const ims = h['if-modified-since'];
  if (ims === undefined || modifiedMs === undefined) return false;
  const t = parseHttpDate(ims);
  return t !== undefined && modifiedMs <= t;
}

/** Validators for the cache's conditional request, as a flat header list. */
export function validatorHeaders(etag: string | undefined, lastModified: string | undefined): string[] {
  const out: string[] = [];
  if (etag !== undefined) out.push('if-none-match', etag);
  // Sent alongside an ETag too: an origin that ignores If-None-Match may still honour it.
  if (lastModified !== undefined) out.push('if-modified-since', lastModified);
  return out;
}

/** May a 304 carrying `fresh` update a response stored with `stored` (§4.3.4)? */
export function sameValidator(stored: string | undefined, fresh: string | string[] | undefined): boolean {
  if (fresh === undefined || stored === undefined) return true;
  const f = typeof fresh === 'string' ? fresh : fresh[0]!;
  return opaque(f.trim()) === opaque(stored.trim());
}
