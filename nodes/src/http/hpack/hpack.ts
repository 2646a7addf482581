// HPACK (RFC 7541): header compression for the HTTP/2 upstream client.
// HpackDecoder decodes the header blocks a peer sends (the whole RFC: static and dynamic tables,
// every literal form, size updates, Huffman and raw strings); HpackEncoder encodes ours without
// Huffman, indexing what repeats. Header bytes are latin1 both ways, as in node:http2.

import { huffmanDecode } from './huffman.ts';

/** Malformed header block; the message says what. The connection's decoding state is lost. */
export class HpackError extends Error {}

// ---- static table (Appendix A); index 0 unused -----------------------------------------------

const STATIC: readonly (readonly [string, string])[] = [
  ['', ''],
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''],
  ['cache-control', ''], ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''],
  ['content-length', ''], ['content-location', ''], ['content-range', ''], ['content-type', ''],
  ['cookie', ''], ['date', ''], ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''],
  ['if-match', ''], ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''],
  ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''],
  ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''],
  ['retry-after', ''], ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''],
  ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];
const STATIC_COUNT = STATIC.length - 1; // 61
const STATIC_NAMES = STATIC.map((e) => e[0]);
const STATIC_VALUES = STATIC.map((e) => e[1]);
/** Name → its first static index (entries of one name are adjacent). */
const STATIC_NAME = new Map<string, number>();
for (let i = STATIC_COUNT; i >= 1; i--) STATIC_NAME.set(STATIC_NAMES[i]!, i);

/** Per entry, on top of its name and value (§4.1). */
const ENTRY_OVERHEAD = 32;

type Latin1Buffer = Buffer & {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number): number;
};

// ---- dynamic table (§2.3.2, §4) ----------------------------------------------------------------

/** The dynamic table both sides keep: a ring of names and values, newest at head - 1. */
class DynamicTable {
  protected names: string[] = new Array<string>(16).fill('');
  protected values: string[] = new Array<string>(16).fill('');
  protected mask = 15;
  protected head = 0;
  protected count = 0;
  /** Entries ever inserted; the newest has absolute number inserted - 1, and index 62. */
  protected inserted = 0;
  protected size = 0;
  /** The table's current maximum size. */
  protected max: number;

  constructor(max: number) {
    this.max = max;
  }

  /** Bytes the dynamic table holds (§4.1). */
  get tableSize(): number {
    return this.size;
  }

  /** The dynamic table, newest first (index 62 first), as [name, value] pairs. */
  entries(): [string, string][] {
    const all: [string, string][] = [];
    for (let d = 0; d < this.count; d++) {
      const slot = (this.head - 1 - d) & this.mask;
      all.push([this.names[slot]!, this.values[slot]!]);
    }
    return all;
  }

  /** Adds an entry, evicting oldest ones to make room; false if it is larger than the whole table. */
  protected insert(name: string, value: string): boolean {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.max) {
      this.evictTo(0); // §4.4: an entry larger than the table empties it
      return false;
    }
    this.evictTo(this.max - size);
    if (this.count === this.names.length) this.grow();
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.head = (this.head + 1) & this.mask;
    this.count++;
    this.inserted++;
    this.size += size;
    return true;
  }

  /** Evicts oldest entries until the table holds at most `size` bytes. */
  protected evictTo(size: number): void {
    while (this.size > size) {
      const slot = (this.head - this.count) & this.mask;
      const name = this.names[slot]!;
      const value = this.values[slot]!;
      this.evicted(name, value, this.inserted - this.count);
      this.size -= name.length + value.length + ENTRY_OVERHEAD;
      this.names[slot] = this.values[slot] = '';
      this.count--;
    }
  }

  /** Called for each entry evicted, with its absolute insertion number. */
  protected evicted(_name: string, _value: string, _abs: number): void {}

  private grow(): void {
    const cap = this.names.length * 2;
    const names = new Array<string>(cap).fill('');
    const values = new Array<string>(cap).fill('');
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head - this.count + i) & this.mask;
      names[i] = this.names[slot]!;
      values[i] = this.values[slot]!;
    }
    this.names = names;
    this.values = values;
    this.mask = cap - 1;
    this.head = this.count;
  }
}

// ---- decoder ---------------------------------------------------------------------------------

/** Where the last readInt/readString stopped (saves returning a pair). */
let cursor = 0;

/** The rest of an integer whose prefix was all ones (§5.1): `value` is that prefix's maximum. */
function readInt(buf: Buffer, pos: number, value: number): number {
  for (let shift = 0; ; shift += 7) {
    if (pos >= buf.length) throw new HpackError('truncated integer');
    if (shift > 28) throw new HpackError('integer overflow');
    const b = buf[pos++]!;
    value += (b & 0x7f) * 2 ** shift;
    if (value > 0x7fffffff) throw new HpackError('integer overflow');
    if (b < 0x80) break;
  }
  cursor = pos;
  return value;
}

/** A string literal (§5.2) at pos, as latin1. */
function readString(buf: Latin1Buffer, pos: number): string {
  if (pos >= buf.length) throw new HpackError('truncated string');
  const first = buf[pos++]!;
  let len = first & 0x7f;
  if (len === 0x7f) {
    len = readInt(buf, pos, len);
    pos = cursor;
  }
  const end = pos + len;
  if (end > buf.length) throw new HpackError('truncated string');
  cursor = end;
  if (first & 0x80) {
    const s = huffmanDecode(buf, pos, end);
    if (s === null) throw new HpackError('invalid Huffman string (EOS, or bad padding)');
    return s;
  }
  if (len < 8) {
    let s = ''; // short: cheaper than the native call
    for (let i = pos; i < end; i++) s += String.fromCharCode(buf[i]!);
    return s;
  }
  return buf.latin1Slice(pos, end);
}

export class HpackDecoder extends DynamicTable {
  /** The size we advertise (SETTINGS_HEADER_TABLE_SIZE): the most a size update may set. */
  private readonly limit: number;
  private readonly maxListSize: number;

  /**
   * The table starts at maxTableSize, so it never evicts before the peer's encoder does, whether
   * or not that encoder signals a size at or below it.
   */
  constructor(maxTableSize = 4096, maxListSize = 65536) {
    super(maxTableSize);
    this.limit = maxTableSize;
    this.maxListSize = maxListSize;
  }

  /**
   * Decodes one complete header block, appending name, value pairs to `out`. Throws HpackError on
   * malformed input, after which this decoder is out of step with the peer and must be dropped.
   * A list over the size limit throws too, unless `lenient`: then the block is still decoded
   * to its end (the table stays in step, the connection can go on), the fields past the limit
   * are left out, and the result is false (a server answers 431 on that stream).
   */
  decode(block: Buffer, out: string[], lenient = false): boolean {
    const buf = block as Latin1Buffer;
    const end = buf.length;
    let pos = 0;
    let listSize = 0;
    let fields = false;
    let over = false;
    while (pos < end) {
      const b = buf[pos++]!;
      let name: string;
      let value: string;
      if (b & 0x80) {
        // Indexed field (§6.1).
        let index = b & 0x7f;
        if (index === 0x7f) {
          index = readInt(buf, pos, index);
          pos = cursor;
        }
        if (index <= STATIC_COUNT) {
          if (index === 0) throw new HpackError('index 0');
          name = STATIC_NAMES[index]!;
          value = STATIC_VALUES[index]!;
        } else {
          const d = index - STATIC_COUNT - 1;
          if (d >= this.count) throw new HpackError(`index ${index} past the tables`);
          const slot = (this.head - 1 - d) & this.mask;
          name = this.names[slot]!;
          value = this.values[slot]!;
        }
      } else if (b & 0x40) {
        // Literal with incremental indexing (§6.2.1), 6-bit name index.
        name = this.literalName(buf, pos, b & 0x3f, 0x3f);
        value = readString(buf, cursor);
        pos = cursor;
        this.insert(name, value);
      } else if (b & 0x20) {
        // Dynamic table size update (§6.3).
        if (fields) throw new HpackError('table size update after a field');
        let size = b & 0x1f;
        if (size === 0x1f) {
          size = readInt(buf, pos, size);
          pos = cursor;
        }
        if (size > this.limit) throw new HpackError(`table size update to ${size}, above the limit ${this.limit}`);
        this.max = size;
        this.evictTo(size);
        continue;
      } else {
        // Literal without indexing (0000) or never indexed (0001) (§6.2.2, §6.2.3), 4-bit name index.
        name = this.literalName(buf, pos, b & 0x0f, 0x0f);
        value = readString(buf, cursor);
        pos = cursor;
      }
      fields = true;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > this.maxListSize) {
        if (!lenient) throw new HpackError('header list too large');
        over = true;
        continue;
      }
      out.push(name, value);
    }
    return !over;
  }

  /** The name of a literal field: indexed (prefix value > 0) or a string; sets cursor past it. */
  private literalName(buf: Latin1Buffer, pos: number, index: number, prefixMax: number): string {
    if (index === 0) return readString(buf, pos);
    if (index === prefixMax) index = readInt(buf, pos, index);
    else cursor = pos;
    if (index <= STATIC_COUNT) return STATIC_NAMES[index]!;
    const d = index - STATIC_COUNT - 1;
    if (d >= this.count) throw new HpackError(`name index ${index} past the tables`);
    return this.names[(this.head - 1 - d) & this.mask]!;
  }
}

// ---- encoder ---------------------------------------------------------------------------------

/** The most dynamic table the encoder uses, whatever the peer allows. */
const ENCODER_MAX_TABLE = 4096;
/** Longer values are written "without indexing": they would crowd the table out. */
const MAX_INDEXED_VALUE = 512;
const WITH_INDEXING = 0x40;
const WITHOUT_INDEXING = 0x00;
const NEVER_INDEXED = 0x10;
/** Names whose literals are not indexed: credentials never (§6.2.3), per-request values not. */
const LITERAL_KIND = new Map<string, number>([
  ...['authorization', 'cookie', 'set-cookie', 'proxy-authorization'].map((n) => [n, NEVER_INDEXED] as const),
  ...['content-length', 'x-request-id', 'traceparent', 'tracestate', 'grpc-timeout', 'x-b3-traceid',
    'x-b3-spanid', 'date', 'etag', 'last-modified', ':path'].map((n) => [n, WITHOUT_INDEXING] as const),
]);

/** Writes an integer (§5.1) with `flags` in the bits above a prefix whose maximum is prefixMax. */
function writeInt(buf: Buffer, pos: number, flags: number, prefixMax: number, value: number): number {
  if (value < prefixMax) {
    buf[pos++] = flags | value;
    return pos;
  }
  buf[pos++] = flags | prefixMax;
  value -= prefixMax;
  while (value >= 0x80) {
    buf[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buf[pos++] = value;
  return pos;
}

/** Writes a raw (not Huffman) string literal, latin1. */
function writeString(buf: Latin1Buffer, pos: number, s: string): number {
  const len = s.length;
  pos = writeInt(buf, pos, 0, 0x7f, len);
  if (len < 16) {
    for (let i = 0; i < len; i++) buf[pos + i] = s.charCodeAt(i);
    return pos + len;
  }
  return pos + buf.latin1Write(s, pos);
}

export class HpackEncoder extends DynamicTable {
  /** The smallest `max` since the last block, or -1 if it has not changed (§4.2). */
  private pendingMin = -1;
  /**
   * name → value → absolute insertion number, for the entries in the table. Two levels rather
   * than one map keyed by name + '\0' + value: building and hashing that key costs ~100 ns a
   * field, a lookup of the (usually constant, hash-cached) strings ~10.
   */
  private readonly index = new Map<string, Map<string, number>>();
  private scratch = Buffer.allocUnsafe(4096) as Latin1Buffer;

  constructor() {
    super(ENCODER_MAX_TABLE);
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE (default 4096). Our table's size is min(n, 4096); when
   * that changes, the next block starts with a size update.
   */
  setPeerTableSize(n: number): void {
    const max = Math.min(n, ENCODER_MAX_TABLE);
    if (max === this.max) return;
    this.max = max;
    this.pendingMin = this.pendingMin < 0 ? max : Math.min(this.pendingMin, max);
    this.evictTo(max);
  }

  /**
   * Encodes a flat [name, value, ...] list (names lower-case, pseudo-headers first) as one header
   * block, raw strings (no Huffman), latin1. The result is a fresh Buffer, never reused.
   */
  encode(fields: string[]): Buffer {
    let buf = this.scratch;
    let pos = 0;
    if (this.pendingMin >= 0) {
      if (this.pendingMin < this.max) pos = writeInt(buf, pos, 0x20, 0x1f, this.pendingMin);
      pos = writeInt(buf, pos, 0x20, 0x1f, this.max);
      this.pendingMin = -1;
    }
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      // Room for the worst case: three 5-byte integers and the two strings.
      const need = pos + name.length + value.length + 16;
      if (need > buf.length) {
        const bigger = Buffer.allocUnsafe(Math.max(need, buf.length * 2)) as Latin1Buffer;
        buf.copy(bigger, 0, 0, pos);
        this.scratch = buf = bigger;
      }
      const nameIndex = STATIC_NAME.get(name) ?? 0;
      let index = 0;
      for (let s = nameIndex; s !== 0 && STATIC_NAMES[s] === name; s++) {
        if (STATIC_VALUES[s] === value) {
          index = s;
          break;
        }
      }
      let kind = LITERAL_KIND.get(name) ?? WITH_INDEXING;
      if (kind === WITH_INDEXING && value.length > MAX_INDEXED_VALUE) kind = WITHOUT_INDEXING;
      // Only literals with indexing are ever in the dynamic table.
      if (index === 0 && kind === WITH_INDEXING) {
        const abs = this.index.get(name)?.get(value);
        if (abs !== undefined) index = STATIC_COUNT + this.inserted - abs;
      }
      if (index !== 0) {
        pos = writeInt(buf, pos, 0x80, 0x7f, index);
        continue;
      }
      if (kind === WITH_INDEXING) {
        pos = writeInt(buf, pos, WITH_INDEXING, 0x3f, nameIndex);
        if (this.insert(name, value)) {
          let byValue = this.index.get(name);
          if (byValue === undefined) this.index.set(name, (byValue = new Map()));
          byValue.set(value, this.inserted - 1);
        }
      } else {
        pos = writeInt(buf, pos, kind, 0x0f, nameIndex);
      }
      if (nameIndex === 0) pos = writeString(buf, pos, name);
      pos = writeString(buf, pos, value);
    }
    const block = Buffer.allocUnsafe(pos);
    buf.copy(block, 0, 0, pos);
    return block;
  }

  protected override evicted(name: string, value: string, abs: number): void {
    const byValue = this.index.get(name);
    if (byValue === undefined || byValue.get(value) !== abs) return;
    byValue.delete(value);
    if (byValue.size === 0) this.index.delete(name);
  }
}
