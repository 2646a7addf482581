/**
 * Targeted cache control (RFC 9213): `CDN-Cache-Control` and the like, fields an origin
 * addresses to caches such as this one (a reverse proxy in front of it) and not to browsers.
 *
 * The route's list of field names (the `targeted` setting, default `CDN-Cache-Control`) is
 * in priority order: the first field present with a valid, non-empty value replaces
 * `Cache-Control` *and* `Expires` for this cache (§2.1). A field is a Structured Field
 * Dictionary (RFC 8941 §3.2); one that does not parse, or whose known directive has the
 * wrong type (`max-age="60"`), is ignored as if absent, and the next field or else
 * Cache-Control applies (§2.1, "a parsing error is encountered").
 */
import type { ResponseDirectives } from './directives.ts';
import type { Headers } from './freshness.ts';

type Bare = number | string | boolean | Uint8Array | { token: string };
type Member = { value: Bare | Bare[]; params: Map<string, Bare> };

const MAX_DELTA = 2 ** 31;
const INTEGER_DIRECTIVES = ['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error'];

/** The directives of the first valid targeted field in `names` (lower case), or undefined. */
export function targetedDirectives(h: Headers, names: readonly string[]): ResponseDirectives | undefined {
  for (const n of names) {
    const v = h[n];
    if (v === undefined) continue;
    const dict = parseDictionary(typeof v === 'string' ? v : v.join(', '));
    if (dict === undefined || dict.size === 0) continue;
    const d = directives(dict);
    if (d !== undefined) return d;
  }
  return undefined;
}

function directives(dict: Map<string, Member>): ResponseDirectives | undefined {
  const num = new Map<string, number>();
  for (const name of INTEGER_DIRECTIVES) {
    const m = dict.get(name);
    if (m === undefined) continue;
    if (typeof m.value !== 'number' || !Number.isInteger(m.value) || m.value < 0) return undefined;
    num.set(name, Math.min(m.value, MAX_DELTA));
  }
  // A boolean directive counts when present and not `?0`; a value (private="x") only makes it stricter.
  const on = (name: string): boolean => { const m = dict.get(name); return m !== undefined && m.value !== false; };
  return {
    maxAge: num.get('max-age'),
    sMaxAge: num.get('s-maxage'),
    noStore: on('no-store'),
    noCache: on('no-cache'),
    private: on('private'),
    public: on('public'),
    mustRevalidate: on('must-revalidate'),
    proxyRevalidate: on('proxy-revalidate'),
    staleWhileRevalidate: num.get('stale-while-revalidate'),
    staleIfError: num.get('stale-if-error'),
  };
}

/** RFC 8941 §4.2.2; undefined on any parse error. */
export function parseDictionary(input: string): Map<string, Member> | undefined {
  const p = new Parser(input);
  try {
    const out = new Map<string, Member>();
    p.skipSP();
    while (!p.end()) {
      const key = p.key();
      let member: Member;
      if (p.peek() === '=') { p.i++; member = p.itemOrInnerList(); } else member = { value: true, params: p.params() };
      out.set(key, member); // a later member of the same name replaces the earlier one
      p.skipOWS();
      if (p.end()) return out;
      if (p.next() !== ',') return undefined;
      p.skipOWS();
      if (p.end()) return undefined; // trailing comma
    }
    return out;
  } catch {
    return undefined;
  }
}

class SfError extends Error {}

class Parser {
  readonly s: string;
  i = 0;
  constructor(s: string) { this.s = s; }
  end(): boolean { return this.i >= this.s.length; }
  peek(): string { return this.s[this.i] ?? ''; }
  next(): string { return this.s[this.i++] ?? ''; }
  skipSP(): void { while (this.peek() === ' ') this.i++; }
  skipOWS(): void { while (this.peek() === ' ' || this.peek() === '\t') this.i++; }
  fail(): never { throw new SfError(`structured field: unexpected ${JSON.stringify(this.peek())} at ${this.i}`); }

  key(): string {
    const start = this.i;
    if (!/[a-z*]/.test(this.peek())) this.fail();
    while (/[a-z0-9_.*-]/.test(this.peek())) this.i++;
    return this.s.slice(start, this.i);
  }

  itemOrInnerList(): Member {
    if (this.peek() !== '(') return { value: this.bare(), params: this.params() };
    this.i++;
    const items: Bare[] = [];
    for (;;) {
      this.skipSP();
      if (this.peek() === ')') { this.i++; return { value: items, params: this.params() }; }
      items.push(this.bare());
      this.params(); // parameters of inner items are not used by cache directives
      const c = this.peek();
      if (c !== ' ' && c !== ')') this.fail();
    }
  }

  params(): Map<string, Bare> {
    const out = new Map<string, Bare>();
    while (this.peek() === ';') {
      this.i++;
      this.skipSP();
      const k = this.key();
      let v: Bare = true;
      if (this.peek() === '=') { this.i++; v = this.bare(); }
      out.set(k, v);
    }
    return out;
  }

  bare(): Bare {
    const c = this.peek();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    if (c === '"') return this.string();
    if (c === '*' || /[A-Za-z]/.test(c)) return this.token();
    if (c === ':') return this.bytes();
    if (c === '?') { this.i++; const b = this.next(); if (b === '1') return true; if (b === '0') return false; }
    return this.fail();
  }

  private number(): number {
    const m = /^-?([0-9]{1,15})(\.[0-9]{1,3})?/.exec(this.s.slice(this.i));
    if (m === null) return this.fail();
    const after = this.s[this.i + m[0].length];
    // Integers have at most 15 digits, decimals 12 before the point; no more digits may follow.
    if ((after !== undefined && /[0-9.]/.test(after)) || (m[2] !== undefined && m[1]!.length > 12)) this.fail();
    this.i += m[0].length;
    return Number(m[0]);
  }

  private string(): string {
    this.i++;
    let out = '';
    for (;;) {
      const c = this.next();
      if (c === '') this.fail();
      if (c === '"') return out;
      if (c === '\\') {
        const e = this.next();
        if (e !== '"' && e !== '\\') this.fail();
        out += e;
        continue;
      }
      const code = c.charCodeAt(0);
      if (code < 0x20 || code > 0x7e) this.fail();
      out += c;
    }
  }

  private token(): { token: string } {
    const start = this.i;
    this.i++;
    while (/[A-Za-z0-9!#$%&'*+.^_`|~:/-]/.test(this.peek())) this.i++;
    return { token: this.s.slice(start, this.i) };
  }

  private bytes(): Uint8Array {
    this.i++;
    const start = this.i;
    while (/[A-Za-z0-9+/=]/.test(this.peek())) this.i++;
    if (this.next() !== ':') this.fail();
    return Buffer.from(this.s.slice(start, this.i - 1), 'base64');
  }
}
