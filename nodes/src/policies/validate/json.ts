/**
 * Strict JSON: the body the gateway validates must be the body the upstream understands,
 * byte for byte and value for value. JSON.parse is lenient where other parsers differ
 * (the "parser differential" class, Bishop Fox "An Exploration of JSON Interoperability
 * Vulnerabilities", 2021; CVE-2017-12635 CouchDB duplicate "roles" key), so before it runs:
 * - bytes must be well-formed UTF-8 (RFC 8259 §8.1); overlong forms and encoded surrogates
 *   are ill-formed (RFC 3629 §3) and rejected, not replaced with U+FFFD as lax decoders do;
 * - a byte order mark is rejected (RFC 8259 §8.1: MUST NOT be added; some parsers skip it,
 *   others fail on it, others read it as part of the first token);
 * - duplicate names in an object are rejected (RFC 8259 §4 leaves them undefined:
 *   JSON.parse keeps the last, Go's encoding/json too, others keep the first or fail).
 *   Names are compared after unescaping, so "a" and "\u0061" are duplicates;
 * - `\uD800`-style escapes that leave a lone surrogate are rejected (RFC 8259 §8.2: such
 *   strings are not interoperable; Go/Rust replace them, JSON.parse keeps them);
 * - numbers outside the float64 range (1e400) are rejected: JSON.parse yields Infinity;
 * - nesting deeper than `maxDepth` is rejected while scanning, with an explicit stack, so
 *   neither this scanner nor a later recursive consumer can be driven into stack exhaustion
 *   (CVE-2020-28493-style depth attacks, CWE-674).
 * The scan is one linear pass with no recursion; JSON.parse then runs on text already known
 * to be well-formed.
 */
import { isUtf8 } from 'node:buffer';

export type JsonResult = { ok: true; value: unknown } | { ok: false; message: string };

const fail = (message: string): JsonResult => ({ ok: false, message });

/** Parse a request body strictly (see the file comment). Messages are client-safe. */
export function parseStrictJson(buf: Buffer, maxDepth: number): JsonResult {
  if (!isUtf8(buf)) return fail('body is not well-formed UTF-8');
  if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) return fail('body must not start with a byte order mark');
  const text = buf.toString('utf8');
  const err = scanJson(text, maxDepth);
  if (err !== undefined) return fail(err);
  return { ok: true, value: JSON.parse(text) };
}

/** Scanner states. */
const S = { VALUE: 0, AFTER_VALUE: 1, KEY_OR_END: 2, KEY: 3, VALUE_OR_END: 4 } as const;

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Scan JSON text; undefined when it is strict, well-formed JSON, else a client-safe reason. */
export function scanJson(s: string, maxDepth: number): string | undefined {
  // Container stack: 1 = object, 2 = array. The names of the object open at depth d are in
  // names[d][0..count[d]) (arrays reused from object to object: no allocation per object),
  // and in a Set once an object has more than SMALL names (linear search stops paying off).
  const stack = new Uint8Array(maxDepth + 1);
  const names: string[][] = [];
  const count = new Uint32Array(maxDepth + 1);
  const sets: Array<Set<string> | undefined> = [];
  let depth = 0;
  let state: number = S.VALUE;
  let i = 0;
  const n = s.length;
  const at = (what: string): string => `invalid JSON: ${what} at position ${i}`;
  for (;;) {
    while (i < n && isWs(s.charCodeAt(i))) i++;
    if (i >= n) {
      if (depth === 0 && state === S.AFTER_VALUE) return undefined;
      return at('unexpected end');
    }
    const c = s.charCodeAt(i);
    switch (state) {
      case S.VALUE:
      case S.VALUE_OR_END: {
        if (state === S.VALUE_OR_END && c === 0x5d /* ] */) { i++; depth--; state = S.AFTER_VALUE; break; }
        if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
          if (depth >= maxDepth) return `JSON nesting deeper than ${maxDepth} levels`;
          depth++;
          i++;
          if (c === 0x7b) { stack[depth] = 1; count[depth] = 0; sets[depth] = undefined; state = S.KEY_OR_END; } else { stack[depth] = 2; state = S.VALUE_OR_END; }
          break;
        }
        if (c === 0x22 /* " */) {
          const end = scanString(s, i);
          if (end < 0) return at(end === -2 ? 'lone surrogate escape' : 'bad string');
          i = end;
        } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
          const end = scanNumber(s, i);
          if (end < 0) return at('bad number');
          // Without an exponent, 309 digits still fit in a float64; only then is a slice worth it.
          if ((numberHadExponent || end - i > 309) && !Number.isFinite(Number(s.slice(i, end)))) return at('number out of range');
          // More than 15 significant digits may not survive float64: validating the rounded
          // value while an arbitrary-precision upstream reads the exact one is a differential.
          if (end - i > 15 && !exactInFloat64(s.slice(i, end))) return at('number not exactly representable');
          i = end;
        } else if (s.startsWith('true', i)) i += 4;
        else if (s.startsWith('false', i)) i += 5;
        else if (s.startsWith('null', i)) i += 4;
        else return at('unexpected character');
        state = S.AFTER_VALUE;
        break;
      }
      case S.AFTER_VALUE: {
        if (depth === 0) return at('unexpected data after the value');
        const inObject = stack[depth] === 1;
        if (c === 0x2c /* , */) { i++; state = inObject ? S.KEY : S.VALUE; break; }
        if (c === (inObject ? 0x7d : 0x5d)) { i++; depth--; state = S.AFTER_VALUE; break; }
        return at('expected , or end of container');
      }
      case S.KEY_OR_END:
      case S.KEY: {
        if (state === S.KEY_OR_END && c === 0x7d /* } */) { i++; depth--; state = S.AFTER_VALUE; break; }
        if (c !== 0x22) return at('expected a name');
        const end = scanString(s, i);
        if (end < 0) return at(end === -2 ? 'lone surrogate escape' : 'bad string');
        const raw = s.slice(i + 1, end - 1);
        const name = raw.indexOf('\\') < 0 ? raw : (JSON.parse(s.slice(i, end)) as string);
        if (!addName(names, count, sets, depth, name)) return `invalid JSON: duplicate name ${JSON.stringify(name.length > 64 ? name.slice(0, 64) + '…' : name)} at position ${i}`;
        i = end;
        while (i < n && isWs(s.charCodeAt(i))) i++;
        if (s.charCodeAt(i) !== 0x3a /* : */) return at('expected :');
        i++;
        state = S.VALUE;
        break;
      }
    }
  }
}

const SMALL = 16;

/** Record `name` in the object at `depth`; false when it is already there. */
function addName(names: string[][], count: Uint32Array, sets: Array<Set<string> | undefined>, depth: number, name: string): boolean {
  const set = sets[depth];
  if (set !== undefined) {
    if (set.has(name)) return false;
    set.add(name);
    return true;
  }
  const list = (names[depth] ??= []);
  const n = count[depth]!;
  for (let k = 0; k < n; k++) if (list[k] === name) return false;
  if (n === SMALL) {
    const big = new Set(list.slice(0, n));
    big.add(name);
    sets[depth] = big;
    return true;
  }
  list[n] = name;
  count[depth] = n + 1;
  return true;
}

function hex4(s: string, i: number): number {
  let v = 0;
  for (let k = 0; k < 4; k++) {
    const c = s.charCodeAt(i + k);
    let d: number;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) d = (c | 0x20) - 0x57;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

/** s[i] is '"'. Returns the index after the closing quote, -1 when malformed, -2 for a lone surrogate escape. */
function scanString(s: string, i: number): number {
  const n = s.length;
  i++;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c < 0x20) return -1; // raw control characters must be escaped (RFC 8259 §7)
    if (c !== 0x5c) { i++; continue; }
    const e = s.charCodeAt(i + 1);
    if (e === 0x75 /* u */) {
      const u = hex4(s, i + 2);
      if (u < 0) return -1;
      i += 6;
      if (u >= 0xdc00 && u <= 0xdfff) return -2;
      if (u >= 0xd800 && u <= 0xdbff) {
        // A high surrogate must be followed by an escaped low surrogate.
        if (s.charCodeAt(i) !== 0x5c || s.charCodeAt(i + 1) !== 0x75) return -2;
        const lo = hex4(s, i + 2);
        if (lo < 0xdc00 || lo > 0xdfff) return lo < 0 ? -1 : -2;
        i += 6;
      }
      continue;
    }
    if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) { i += 2; continue; }
    return -1;
  }
  return -1;
}

function digits(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    i++;
  }
  return i;
}

/** Significant digits and decimal exponent of a JSON number literal, trailing zeros dropped. */
function decimalParts(lit: string): { digits: string; exp: number } {
  const m = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(lit)!;
  const int = m[1]!;
  const frac = m[2] ?? '';
  let all = int + frac;
  let exp = Number(m[3] ?? 0) + int.length;
  const lead = all.length - all.replace(/^0+/, '').length;
  all = all.slice(lead);
  exp -= lead;
  all = all.replace(/0+$/, '');
  return all ? { digits: all, exp } : { digits: '0', exp: 0 };
}

/** True when the float64 nearest to `lit` is exactly the decimal `lit` says (compared by shortest round-trip digits). */
export function exactInFloat64(lit: string): boolean {
  const a = decimalParts(lit);
  if (a.digits.length <= 15) return true;
  const b = decimalParts(Math.abs(Number(lit)).toExponential());
  return a.digits === b.digits && a.exp === b.exp;
}

/** Set by scanNumber (synchronous, single-threaded): did the last number have an exponent? */
let numberHadExponent = false;

/** RFC 8259 §6 number grammar from s[i]; the index after it, or -1. */
function scanNumber(s: string, i: number): number {
  numberHadExponent = false;
  if (s.charCodeAt(i) === 0x2d) i++;
  const c = s.charCodeAt(i);
  if (c === 0x30) i++;
  else if (c >= 0x31 && c <= 0x39) i = digits(s, i + 1);
  else return -1;
  if (s.charCodeAt(i) === 0x2e /* . */) {
    const j = digits(s, i + 1);
    if (j === i + 1) return -1;
    i = j;
  }
  const e = s.charCodeAt(i);
  if (e === 0x65 || e === 0x45) {
    numberHadExponent = true;
    i++;
    const sign = s.charCodeAt(i);
    if (sign === 0x2b || sign === 0x2d) i++;
    const j = digits(s, i);
    if (j === i) return -1;
    i = j;
  }
  return i;
}
