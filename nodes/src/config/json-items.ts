/**
 * An incremental reader of JSON config files: what makes a one-route edit of a 13 MB file
 * cost what it changes. It reads the file's bytes, not a decoded text: the top level and each
 * collection (routes, upstreams, consumers) are walked by a small scanner over the bytes; each
 * item's bytes are compared with the bytes it had in the previous read, and an unchanged item
 * keeps the object parsed then. Only changed items are decoded and go through JSON.parse, so a
 * reload hands the node the same objects for everything else (identity is what validation and
 * compile key their reuse on), and a collection in which nothing changed is the same
 * collection object. A collection whose bytes are unchanged is recognised by one memcmp and
 * not scanned at all.
 * Why bytes: decoding a 13 MB file makes a 13 MB string on every edit, and V8 keeps a string
 * that large outside its heap and counts it as external memory; at two or three edits a
 * second that alone started a major GC every third edit (a 100-140 ms stall at 100,000
 * consumers). Scanning the bytes needs no decode: JSON's structure is ASCII, and no byte of
 * a multi-byte UTF-8 character is below 0x80. The caller may reuse the buffer it hands in
 * (config/file.ts reads every change into the same one): what is kept is copied, one copy
 * per collection that changed.
 *
 * Strict: every byte is either structure the scanner checked (braces, names, colons,
 * commas, JSON whitespace), inside an item parsed now, or inside an item whose bytes equal
 * one parsed before. Anything the scanner does not expect (a YAML file, a syntax error, a
 * repeated name, an odd name) returns undefined and the caller takes the whole-document
 * parser, which reports the problem with its position.
 */
import { recordLineage } from '../core/lineage.ts';

// Not protos: a proto set given by `path` reads files whose change the text does not show,
// so the sets are parsed anew on every read (they are few) and a reload rebuilds what uses them.
const KINDS = new Set(['routes', 'upstreams', 'consumers']);

/** A top-level value as last read: a collection's names, objects and byte ranges in file order, and the record built from them. */
interface Kept {
  record: unknown;
  /** The value's bytes (a copy, braces included): when the next read has them at the same place, nothing in them is scanned again. */
  bytes: Buffer;
  /** Collections only: item names, objects, and each item's [start, end) in `bytes`. */
  names?: string[];
  values?: unknown[];
  spans?: number[];
  /** name → position, built on first need (an item that moved, or a name the last read did not have). */
  index?: Map<string, number>;
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
  readonly b: Buffer;
  constructor(b: Buffer) { this.b = b; }

  ws(): void {
    const b = this.b;
    let i = this.i;
    for (; i < b.length; i++) {
      const c = b[i]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    }
    this.i = i;
  }

  /** A string starting at i (a quote); returns its decoded value, or undefined when malformed. */
  string(): string | undefined {
    const b = this.b;
    const start = this.i;
    if (b[start] !== QUOTE) return undefined;
    let escaped = false;
    let i = start + 1;
    for (; i < b.length; i++) {
      const c = b[i]!;
      if (c === BACKSLASH) { escaped = true; i++; continue; }
      if (c === QUOTE) break;
      if (c < 0x20) return undefined;
    }
    if (i >= b.length) return undefined;
    this.i = i + 1;
    if (!escaped) return b.toString('utf8', start + 1, i);
    try { return JSON.parse(b.toString('utf8', start, i + 1)) as string; } catch { return undefined; }
  }

  /**
   * An object starting at i (a brace): for each member, its name is read and `member` is
   * called with the scan at the value, which it must consume (false: refuse the text). False
   * when the structure between members is not JSON or `member` refused.
   */
  object(member: (name: string) => boolean): boolean {
    const b = this.b;
    if (b[this.i] !== OPEN) return false;
    this.i++;
    this.ws();
    if (b[this.i] === CLOSE) { this.i++; return true; }
    for (;;) {
      this.ws();
      const name = this.string();
      if (name === undefined || name === '__proto__') return false;
      this.ws();
      if (b[this.i] !== COLON) return false;
      this.i++;
      this.ws();
      if (!member(name)) return false;
      this.ws();
      const c = b[this.i];
      this.i++;
      if (c === CLOSE) return true;
      if (c !== COMMA) return false;
    }
  }

  /**
   * Skips one value; returns its end, and counts the name/value separators in it (for the
   * duplicate-name check of items parsed now). Brackets must nest; the rest of the grammar
   * inside an item is JSON.parse's job (or was, when its bytes were read before).
   */
  value(): { end: number; members: number } | undefined {
    const b = this.b;
    let i = this.i;
    let depth = 0;
    let members = 0;
    const first = b[i];
    if (first !== OPEN && first !== OPEN_LIST) {
      // A scalar: up to the next structural character at this level.
      if (first === QUOTE) { if (this.string() === undefined) return undefined; return { end: this.i, members }; }
      for (; i < b.length; i++) {
        const c = b[i]!;
        if (c === COMMA || c === CLOSE || c === CLOSE_LIST || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) break;
      }
      if (i === this.i) return undefined;
      this.i = i;
      return { end: i, members };
    }
    for (; i < b.length; i++) {
      const c = b[i]!;
      if (c === QUOTE) {
        for (i++; i < b.length; i++) {
          const d = b[i]!;
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

  /** Whether the bytes at i are `kept`'s [from, to) (one memcmp). */
  same(kept: Buffer, from: number, to: number): boolean {
    const end = this.i + (to - from);
    return end <= this.b.length && this.b.compare(kept, from, to, this.i, end) === 0;
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

/** Parses one item's bytes; undefined when they are not JSON or repeat a name inside. */
function parseItem(b: Buffer, start: number, end: number, members: number): unknown {
  let value: unknown;
  try { value = JSON.parse(b.toString('utf8', start, end)); } catch { return undefined; }
  return countKeys(value) === members ? value : undefined;
}

export class JsonItemReader {
  #kept = new Map<string, Kept>();
  #order: string[] = [];
  /** Items parsed by the last read (the rest were reused). */
  parsed = 0;
  /** The last read was plain JSON this reader accepted (the file source then reads the next change at once). */
  accepted = false;
  /** The last read was accepted and every top-level value was the previous read's, in the same order: the file did not change. */
  unchanged = false;

  /**
   * The document, reusing unchanged items' objects; undefined when the input is not plain JSON
   * this reader accepts. `input` is a file's bytes (UTF-8; the caller may reuse the buffer
   * afterwards) or, for callers that have one, a text.
   */
  read(input: Buffer | string): Record<string, unknown> | undefined {
    const b = typeof input === 'string' ? Buffer.from(input) : input;
    const s = new Scan(b);
    const doc: Record<string, unknown> = {};
    const next = new Map<string, Kept>();
    const order: string[] = [];
    let parsed = 0;
    let reused = 0;
    s.ws();
    const ok = s.object((key) => {
      if (Object.hasOwn(doc, key)) return false;
      order.push(key);
      const prev = this.#kept.get(key);
      if (prev !== undefined && s.same(prev.bytes, 0, prev.bytes.length)) {
        // The value's bytes are unchanged (one memcmp): it and every item in it stand as they are.
        s.i += prev.bytes.length;
        doc[key] = prev.record;
        next.set(key, prev);
        reused++;
        return true;
      }
      if (KINDS.has(key) && b[s.i] === OPEN) {
        const got = this.#collection(s, prev);
        if (!got) return false;
        doc[key] = got.kept.record;
        next.set(key, got.kept);
        parsed += got.parsed;
        return true;
      }
      const start = s.i;
      const v = s.value();
      const value = v && parseItem(b, start, v.end, v.members);
      if (value === undefined) return false;
      doc[key] = value;
      next.set(key, { record: value, bytes: Buffer.from(b.subarray(start, v!.end)) });
      return true;
    });
    s.ws();
    if (!ok || s.i !== b.length) { this.accepted = false; this.unchanged = false; return undefined; }
    this.unchanged = this.accepted && reused === order.length && order.length === this.#order.length && order.every((k, i) => this.#order[i] === k);
    this.accepted = true;
    this.#kept = next;
    this.#order = order;
    this.parsed = parsed;
    return doc;
  }

  /**
   * One collection: items whose bytes are unchanged keep their objects; when every item is
   * unchanged and in the same place the record itself is kept. Items are matched by position
   * first (an edit rarely reorders a file), by name otherwise.
   */
  #collection(s: Scan, prev: Kept | undefined): { kept: Kept; parsed: number } | undefined {
    const b = s.b;
    const begin = s.i;
    const names: string[] = [];
    const values: unknown[] = [];
    /** Each item's [start, end), relative to `begin`. */
    const spans: number[] = [];
    const pNames = prev?.names;
    const pSpans = prev?.spans;
    let parsed = 0;
    let same = pNames !== undefined;
    /** Names parsed anew, and how many names the previous read had too: the record's lineage. */
    const changed: string[] = [];
    let matched = 0;
    const ok = s.object((name) => {
      const start = s.i;
      const k = names.length;
      let at = pNames !== undefined && k < pNames.length && pNames[k] === name ? k : -1;
      if (at >= 0 && s.same(prev!.bytes, pSpans![2 * at]!, pSpans![2 * at + 1]!)) {
        // Same name in the same place and the old item's bytes: it is that item, taken without
        // scanning it (a whole JSON value is never a proper prefix of another, so the scan
        // after it checks the next separator as usual).
        s.i = start + pSpans![2 * at + 1]! - pSpans![2 * at]!;
        matched++;
        names.push(name);
        values.push(prev!.values![at]);
        spans.push(start - begin, s.i - begin);
        return true;
      }
      const v = s.value();
      if (!v) return false;
      if (at < 0) {
        same = false;
        if (pNames !== undefined) at = indexOf(prev!).get(name) ?? -1;
      }
      names.push(name);
      spans.push(start - begin, v.end - begin);
      if (at >= 0) matched++;
      if (at >= 0 && pSpans![2 * at + 1]! - pSpans![2 * at]! === v.end - start) {
        s.i = start;
        const moved = s.same(prev!.bytes, pSpans![2 * at]!, pSpans![2 * at + 1]!);
        s.i = v.end;
        if (moved) { values.push(prev!.values![at]); return true; }
      }
      const value = parseItem(b, start, v.end, v.members);
      if (value === undefined) return false;
      values.push(value);
      changed.push(name);
      parsed++;
      same = false;
      return true;
    });
    if (!ok) return undefined;
    // Kept as a copy: the caller's buffer is read into again on the next change.
    const bytes = Buffer.from(b.subarray(begin, s.i));
    if (same && pNames!.length === names.length) {
      // Same names in the same places: no new duplicate is possible, the record stands.
      return { kept: { record: prev!.record, bytes, names, values, spans, ...(prev!.index ? { index: prev!.index } : {}) }, parsed };
    }
    const record: Record<string, unknown> = {};
    for (let i = 0; i < names.length; i++) {
      if (Object.hasOwn(record, names[i]!)) return undefined; // a repeated name: the whole-document parser says where
      record[names[i]!] = values[i];
    }
    const base = prev?.record;
    if (base !== null && typeof base === 'object' && pNames !== undefined) {
      // Every name of the previous read found again: nothing removed, no walk to find out.
      const removed = matched === pNames.length ? [] : pNames.filter((n) => !Object.hasOwn(record, n));
      recordLineage(record, { base: base as Record<string, unknown>, changed, removed });
    }
    return { kept: { record, bytes, names, values, spans }, parsed };
  }
}

function indexOf(kept: Kept): Map<string, number> {
  if (!kept.index) {
    kept.index = new Map();
    const names = kept.names ?? [];
    for (let i = 0; i < names.length; i++) kept.index.set(names[i]!, i);
  }
  return kept.index;
}
