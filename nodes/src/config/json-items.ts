/**
 * An incremental reader of JSON config files: what makes a one-route edit of a 13 MB file
 * cost what it changes. The top level and each collection (routes, upstreams, consumers)
 * are walked by a small scanner; each item's text is compared with the text it had
 * in the previous read, and an unchanged item keeps the object parsed then. Only changed
 * items go through JSON.parse, so a reload hands the node the same objects for everything
 * else (identity is what validation and compile key their reuse on), and a collection in
 * which nothing changed is the same collection object. A collection whose whole text is
 * unchanged is recognised by one comparison and not scanned at all.
 * Memory: the texts kept for comparison are slices of the file, so a file's text stays alive
 * while one of its collections is unchanged since: at most one older copy per collection.
 *
 * Strict: every character is either structure the scanner checked (braces, names, colons,
 * commas, JSON whitespace), inside an item parsed now, or inside an item whose text equals
 * one parsed before. Anything the scanner does not expect (a YAML file, a syntax error, a
 * repeated name, an odd name) returns undefined and the caller takes the whole-document
 * parser, which reports the problem with its position.
 */
// Not protos: a proto set given by `path` reads files whose change the text does not show,
// so the sets are parsed anew on every read (they are few) and a reload rebuilds what uses them.
const KINDS = new Set(['routes', 'upstreams', 'consumers']);

/** A collection as last read: names, texts and objects in file order, and the record built from them. */
interface Kept {
  record: Record<string, unknown>;
  names: string[];
  raws: string[];
  values: unknown[];
  /** name → position, built on first need (an item that moved, or a name the last read did not have). */
  index?: Map<string, number>;
  /** The collection's whole text, braces included: when the next read has it at the same place, nothing in it is scanned again. */
  raw: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const OPEN_LIST = 0x5b;
const CLOSE_LIST = 0x5d;

class Scan {
  i = 0;
  readonly text: string;
  constructor(text: string) { this.text = text; }

  ws(): void {
    const t = this.text;
    let i = this.i;
    for (; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    }
    this.i = i;
  }

  /** A string starting at i (a quote); returns its decoded value, or undefined when malformed. */
  string(): string | undefined {
    const t = this.text;
    const start = this.i;
    if (t.charCodeAt(start) !== QUOTE) return undefined;
    let escaped = false;
    let i = start + 1;
    for (; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if (c === BACKSLASH) { escaped = true; i++; continue; }
      if (c === QUOTE) break;
      if (c < 0x20) return undefined;
    }
    if (i >= t.length) return undefined;
    this.i = i + 1;
    if (!escaped) return t.slice(start + 1, i);
    try { return JSON.parse(t.slice(start, i + 1)) as string; } catch { return undefined; }
  }

  /**
   * An object starting at i (a brace): for each member, its name is read and `member` is
   * called with the scan at the value, which it must consume (false: refuse the text). False
   * when the structure between members is not JSON or `member` refused.
   */
  object(member: (name: string) => boolean): boolean {
    const t = this.text;
    if (t.charCodeAt(this.i) !== OPEN) return false;
    this.i++;
    this.ws();
    if (t.charCodeAt(this.i) === CLOSE) { this.i++; return true; }
    for (;;) {
      this.ws();
      const name = this.string();
      if (name === undefined || name === '__proto__') return false;
      this.ws();
      if (t.charCodeAt(this.i) !== COLON) return false;
      this.i++;
      this.ws();
      if (!member(name)) return false;
      this.ws();
      const c = t.charCodeAt(this.i);
      this.i++;
      if (c === CLOSE) return true;
      if (c !== COMMA) return false;
    }
  }

  /**
   * Skips one value; returns its end, and counts the name/value separators in it (for the
   * duplicate-name check of items parsed now). Brackets must nest; the rest of the grammar
   * inside an item is JSON.parse's job (or was, when its text was read before).
   */
  value(): { end: number; members: number } | undefined {
    const t = this.text;
    let i = this.i;
    let depth = 0;
    let members = 0;
    const first = t.charCodeAt(i);
    if (first !== OPEN && first !== OPEN_LIST) {
      // A scalar: up to the next structural character at this level.
      if (first === QUOTE) { if (this.string() === undefined) return undefined; return { end: this.i, members }; }
      for (; i < t.length; i++) {
        const c = t.charCodeAt(i);
        if (c === COMMA || c === CLOSE || c === CLOSE_LIST || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) break;
      }
      if (i === this.i) return undefined;
      this.i = i;
      return { end: i, members };
    }
    for (; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if (c === QUOTE) {
        for (i++; i < t.length; i++) {
          const d = t.charCodeAt(i);
          if (d === BACKSLASH) i++;
          else if (d === QUOTE) break;
        }
      } else if (c === OPEN || c === OPEN_LIST) depth++;
      else if (c === CLOSE || c === CLOSE_LIST) { if (--depth === 0) { i++; break; } } else if (c === COLON) members++;
    }
    if (depth !== 0) return undefined;
    this.i = i;
    return { end: i, members };
  }
}

/** Object members in a parsed value, walked with an explicit stack (no recursion on deep input). */
export function countKeys(doc: unknown): number {
  let n = 0;
  const stack: unknown[] = [doc];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) { for (const x of v) stack.push(x); continue; }
    const values = Object.values(v);
    n += values.length;
    for (let i = 0; i < values.length; i++) if (values[i] !== null && typeof values[i] === 'object') stack.push(values[i]);
  }
  return n;
}

/** Parses one item's text; undefined when it is not JSON or repeats a name inside. */
function parseItem(raw: string, members: number): unknown {
  let value: unknown;
  try { value = JSON.parse(raw); } catch { return undefined; }
  return countKeys(value) === members ? value : undefined;
}

export class JsonItemReader {
  #kept = new Map<string, Kept>();
  /** Items parsed by the last read (the rest were reused). */
  parsed = 0;
  /** The last read was plain JSON this reader accepted (the file source then reads the next change at once). */
  accepted = false;

  /** The document, reusing unchanged items' objects; undefined when the text is not plain JSON this reader accepts. */
  read(text: string): Record<string, unknown> | undefined {
    const s = new Scan(text);
    const doc: Record<string, unknown> = {};
    const next = new Map<string, Kept>();
    let parsed = 0;
    s.ws();
    const ok = s.object((key) => {
      if (Object.hasOwn(doc, key)) return false;
      const prev = this.#kept.get(key);
      if (prev !== undefined && text.slice(s.i, s.i + prev.raw.length) === prev.raw) {
        // The collection's text is unchanged (one comparison of its characters): it and
        // every item in it stand as they are. A slice and === rather than startsWith: V8
        // compares equal-length strings with memcmp, and startsWith character by character
        // (9 MB of consumers: 0.3 ms against 6-12 ms).
        s.i += prev.raw.length;
        doc[key] = prev.record;
        next.set(key, prev);
        return true;
      }
      if (KINDS.has(key) && text.charCodeAt(s.i) === OPEN) {
        const got = this.#collection(s, prev);
        if (!got) return false;
        doc[key] = got.kept.record;
        next.set(key, got.kept);
        parsed += got.parsed;
        return true;
      }
      const start = s.i;
      const v = s.value();
      const value = v && parseItem(text.slice(start, v.end), v.members);
      if (value === undefined) return false;
      doc[key] = value;
      return true;
    });
    s.ws();
    if (!ok || s.i !== text.length) { this.accepted = false; return undefined; }
    this.accepted = true;
    this.#kept = next;
    this.parsed = parsed;
    return doc;
  }

  /**
   * One collection: items whose text is unchanged keep their objects; when every item is
   * unchanged and in the same place the record itself is kept. Items are matched by position
   * first (an edit rarely reorders a file), by name otherwise.
   */
  #collection(s: Scan, prev: Kept | undefined): { kept: Kept; parsed: number } | undefined {
    const text = s.text;
    const begin = s.i;
    const names: string[] = [];
    const raws: string[] = [];
    const values: unknown[] = [];
    let parsed = 0;
    let same = prev !== undefined;
    const ok = s.object((name) => {
      const start = s.i;
      const k = names.length;
      let at = prev !== undefined && k < prev.names.length && prev.names[k] === name ? k : -1;
      if (at >= 0) {
        // Same name in the same place: when the text there is the old item's, it is that item,
        // taken without scanning it (a whole JSON value is never a proper prefix of another,
        // so the scan after it checks the next separator as usual).
        const old = prev!.raws[at]!;
        const here = text.slice(start, start + old.length);
        if (here === old) {
          s.i = start + old.length;
          names.push(name);
          raws.push(here);
          values.push(prev!.values[at]);
          return true;
        }
      }
      const v = s.value();
      if (!v) return false;
      const raw = text.slice(start, v.end);
      if (at < 0) {
        same = false;
        if (prev !== undefined) at = indexOf(prev).get(name) ?? -1;
      }
      names.push(name);
      // The new text's slice is kept, so the previous file's text can be collected.
      raws.push(raw);
      if (at >= 0 && prev!.raws[at] === raw) { values.push(prev!.values[at]); return true; }
      const value = parseItem(raw, v.members);
      if (value === undefined) return false;
      values.push(value);
      parsed++;
      same = false;
      return true;
    });
    if (!ok) return undefined;
    const raw = text.slice(begin, s.i);
    if (same && prev!.names.length === names.length) {
      // Same names in the same places: no new duplicate is possible, the record stands.
      return { kept: { record: prev!.record, names, raws, values, raw, ...(prev!.index ? { index: prev!.index } : {}) }, parsed };
    }
    const record: Record<string, unknown> = {};
    for (let i = 0; i < names.length; i++) {
      if (Object.hasOwn(record, names[i]!)) return undefined; // a repeated name: the whole-document parser says where
      record[names[i]!] = values[i];
    }
    return { kept: { record, names, raws, values, raw }, parsed };
  }
}

function indexOf(kept: Kept): Map<string, number> {
  if (!kept.index) {
    kept.index = new Map();
    for (let i = 0; i < kept.names.length; i++) kept.index.set(kept.names[i]!, i);
  }
  return kept.index;
}
