/**
 * User-Agent / Referer patterns matched in linear time. Regular expressions from config
 * running on client text are the ReDoS class (CVE-2016-4055 moment, CVE-2021-3807
 * ansi-regex, Cloudflare's 2019-07-02 outage): a backtracking engine can take exponential
 * time on a crafted header. So patterns are not regexes:
 * - no `*`: case-insensitive substring (`sqlmap` blocks `Mozilla/5.0 sqlmap/1.7`);
 * - with `*`: a glob over the whole value, `*` = any run of characters (`curl/*`, `*bot*`).
 * A star-only glob is matched greedily left to right: the first part must be a prefix, the
 * last a suffix, and each middle part is found with indexOf after the previous one. Taking
 * the leftmost occurrence is always safe for `*`-only globs, so there is no backtracking:
 * the cost is one pass per part, O(value length x pattern length) at worst.
 * Regex syntax is refused at load so nobody believes `.*bot` or `^curl` means what it would
 * in a regex. `( ) + ? .` are literal characters here (they occur in real User-Agents).
 */

export type Matcher = (lowerValue: string) => boolean;

const REGEX_SYNTAX = /[\\|[\]{}]|^\^|\$$|\.[*+?]|\(\?/;

/** Compile one pattern; throws (with the pattern) on regex syntax or an empty pattern. */
export function compileGlob(pattern: string): Matcher {
  if (pattern === '') throw new Error('empty pattern (it would match everything; use "*" to mean that)');
  if (REGEX_SYNTAX.test(pattern)) {
    throw new Error(`pattern ${JSON.stringify(pattern)} looks like a regular expression; use a plain substring or * globs`);
  }
  const p = pattern.toLowerCase();
  if (!p.includes('*')) return (v) => v.includes(p);
  const parts = p.split('*');
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  const middle = parts.slice(1, -1).filter((x) => x !== '');
  const minLength = first.length + last.length;
  return (v) => {
    if (v.length < minLength || !v.startsWith(first) || !v.endsWith(last)) return false;
    let at = first.length;
    const end = v.length - last.length;
    for (const m of middle) {
      const i = v.indexOf(m, at);
      if (i < 0 || i + m.length > end) return false;
      at = i + m.length;
    }
    return true;
  };
}

/** Any of several patterns; undefined when there are none. */
export function compileGlobs(patterns: readonly string[] | undefined): Matcher | undefined {
  if (!patterns || patterns.length === 0) return undefined;
  const ms = patterns.map(compileGlob);
  if (ms.length === 1) return ms[0]!;
  return (v) => {
    for (const m of ms) if (m(v)) return true;
    return false;
  };
}
