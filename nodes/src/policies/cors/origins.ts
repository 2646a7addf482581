/**
 * Allowed origins, compiled once: `*`, exact origins (a Set), and `scheme://*.domain[:port]`
 * patterns matched by prefix/suffix in linear time. No user-supplied regex: a pattern can
 * never be catastrophic, and `*.example.com` can never match `example.com.evil.net`.
 * Origins are compared lower-case (RFC 6454 §6.2 serialises scheme and host lower-case).
 */
export interface OriginRule { any: boolean; match(origin: string): boolean }

interface Wildcard { prefix: string; suffix: string }

export const ORIGIN_PATTERN = '^(\\*|null|[a-z][a-z0-9+.-]*://(\\*\\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?)$';

export function compileOrigins(list: readonly string[]): OriginRule {
  const exact = new Set<string>();
  const wild: Wildcard[] = [];
  let any = false;
  for (const raw of list) {
    const o = raw.toLowerCase();
    if (o === '*') { any = true; continue; }
    const star = o.indexOf('://*.');
    if (star < 0) { exact.add(o); continue; }
    wild.push({ prefix: o.slice(0, star + 3), suffix: o.slice(star + 4) }); // suffix keeps its leading '.'
  }
  return {
    any,
    match(origin) {
      if (any) return true;
      const o = origin.toLowerCase();
      if (exact.has(o)) return true;
      for (const w of wild) if (matchWild(o, w)) return true;
      return false;
    },
  };
}

/** `https://*.example.com` matches `https://a.example.com` and `https://a.b.example.com`, not the apex. */
function matchWild(o: string, w: Wildcard): boolean {
  const end = o.length - w.suffix.length;
  if (end <= w.prefix.length || !o.startsWith(w.prefix) || !o.endsWith(w.suffix)) return false;
  let prevDot = true; // no empty label at the start
  for (let i = w.prefix.length; i < end; i++) {
    const c = o.charCodeAt(i);
    if (c === 46 /* . */) { if (prevDot) return false; prevDot = true; continue; }
    prevDot = false;
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 /* - */)) return false;
  }
  return !prevDot;
}
