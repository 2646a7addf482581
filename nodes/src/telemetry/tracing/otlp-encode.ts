/**
 * OTLP/HTTP protobuf encoding of finished spans (opentelemetry-proto, trace/v1 and
 * collector/trace/v1 ExportTraceServiceRequest), written by hand into one reused buffer:
 * no generated classes, no intermediate objects per span. Runs on the export timer, never
 * per request.
 *
 * A nested message is written with a one-byte length placeholder; when its body turns out
 * to be 128 bytes or more, the body is moved right to make room for the longer varint.
 */

/** What the encoder needs of a finished span (sdk.ts's RecordedSpan). */
export interface EncodableSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly sampledFlags: number;
  readonly name: string;
  readonly kind: number;
  /** Epoch milliseconds (fractional). */
  readonly startMs: number;
  readonly endMs: number;
  /** Flat [key, value, key, value, ...]. */
  readonly attrs: readonly unknown[];
  readonly events: readonly EncodableEvent[] | undefined;
  /** 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  readonly statusMessage: string;
}

export interface EncodableEvent {
  readonly name: string;
  readonly timeMs: number;
  readonly attrs: readonly unknown[] | undefined;
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

export class OtlpWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initial = 64 * 1024) { this.buf = Buffer.allocUnsafe(initial); }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }

  private varint(v: number): void {
    this.ensure(10);
    const b = this.buf;
    while (v > 127) { b[this.pos++] = (v & 127) | 128; v = Math.floor(v / 128); }
    b[this.pos++] = v;
  }

  private tag(field: number, wire: number): void { this.varint((field << 3) | wire); }

  /** Start a length-delimited field; returns the mark to hand to close(). */
  private open(field: number): number {
    this.tag(field, WIRE_LEN);
    this.ensure(1);
    return this.pos++;
  }

  private close(mark: number): void {
    const len = this.pos - mark - 1;
    if (len < 128) { this.buf[mark] = len; return; }
    let extra = 0;
    for (let v = len >> 7; v > 0; v >>= 7) extra++;
    this.ensure(extra);
    this.buf.copyWithin(mark + 1 + extra, mark + 1, this.pos);
    this.pos += extra;
    let v = len;
    let p = mark;
    while (v > 127) { this.buf[p++] = (v & 127) | 128; v >>>= 7; }
    this.buf[p] = v;
  }

  private string(field: number, s: string): void {
    this.tag(field, WIRE_LEN);
    const n = s.length;
    if (n < 128) {
      // Short ASCII (attribute keys, methods, paths, ids): copied in JS, no call into the Buffer binding.
      this.ensure(n + 1);
      const b = this.buf;
      let p = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 127) break;
        b[p++] = c;
      }
      if (i === n) { b[this.pos] = n; this.pos = p; return; }
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.varint(len);
    this.ensure(len);
    this.buf.write(s, this.pos, 'utf8');
    this.pos += len;
  }

  /** An id (8 or 16 bytes from 16 or 32 hex digits) as field 1..15: its tag and length are one byte each. */
  private hexBytes(field: number, hex: string): void {
    const n = hex.length >> 1;
    this.ensure(n + 2);
    const b = this.buf;
    let p = this.pos;
    b[p++] = (field << 3) | WIRE_LEN;
    b[p++] = n;
    for (let i = 0; i < 2 * n; i += 2) b[p++] = (NIBBLE[hex.charCodeAt(i) & 127]! << 4) | NIBBLE[hex.charCodeAt(i + 1) & 127]!;
    this.pos = p;
  }

  /**
   * A KeyValue (as field 1..15) whose key and string value are short ASCII, the common
   * attribute: every length is known before writing (one byte each), so it is written in
   * one pass, without the placeholders and back-patching of open()/close(). False (and
   * nothing written) when it does not apply.
   */
  private shortStringKv(field: number, k: string, v: string): boolean {
    const kl = k.length;
    const vl = v.length;
    if (kl + vl > 100) return false; // the KeyValue stays under 128 bytes
    this.ensure(kl + vl + 8);
    const b = this.buf;
    let p = this.pos;
    b[p++] = (field << 3) | WIRE_LEN; b[p++] = kl + vl + 6;
    b[p++] = 0x0a; b[p++] = kl; // key: field 1
    for (let i = 0; i < kl; i++) { const c = k.charCodeAt(i); if (c > 127) return false; b[p++] = c; }
    b[p++] = 0x12; b[p++] = vl + 2; // value: field 2, an AnyValue
    b[p++] = 0x0a; b[p++] = vl; // string_value: field 1
    for (let i = 0; i < vl; i++) { const c = v.charCodeAt(i); if (c > 127) return false; b[p++] = c; }
    this.pos = p;
    return true;
  }

  /** The same for a small non-negative integer value (ports, status codes, counts). */
  private shortIntKv(field: number, k: string, v: number): boolean {
    const kl = k.length;
    if (kl > 100 || !(v >= 0 && v < 2097152) || v !== Math.floor(v)) return false;
    const vs = v < 128 ? 1 : v < 16384 ? 2 : 3;
    this.ensure(kl + vs + 7);
    const b = this.buf;
    let p = this.pos;
    b[p++] = (field << 3) | WIRE_LEN; b[p++] = kl + vs + 5;
    b[p++] = 0x0a; b[p++] = kl;
    for (let i = 0; i < kl; i++) { const c = k.charCodeAt(i); if (c > 127) return false; b[p++] = c; }
    b[p++] = 0x12; b[p++] = vs + 1;
    b[p++] = 0x18; // int_value: field 3, varint
    while (v > 127) { b[p++] = (v & 127) | 128; v >>>= 7; }
    b[p++] = v;
    this.pos = p;
    return true;
  }

  /** fixed64 nanoseconds since the epoch from fractional epoch milliseconds, exact, without BigInt. */
  private nanos(field: number, ms: number): void {
    this.tag(field, WIRE_I64);
    this.ensure(8);
    const whole = Math.floor(ms);
    const frac = Math.round((ms - whole) * 1e6); // ns within the ms
    // whole * 1e6 + frac = (wh * 2^20 + wl) * 1e6 + frac, each product exact in a double.
    const wh = Math.floor(whole / 1048576);
    const wl = whole - wh * 1048576;
    const x = wh * 1e6; // times 2^20
    let hi = Math.floor(x / 4096);
    let lo = (x - hi * 4096) * 1048576;
    const y = wl * 1e6 + frac;
    const yHi = Math.floor(y / 4294967296);
    lo += y - yHi * 4294967296;
    hi += yHi;
    if (lo >= 4294967296) { lo -= 4294967296; hi++; }
    const b = this.buf;
    const p = this.pos;
    b[p] = lo & 255; b[p + 1] = (lo >>> 8) & 255; b[p + 2] = (lo >>> 16) & 255; b[p + 3] = (lo >>> 24) & 255;
    b[p + 4] = hi & 255; b[p + 5] = (hi >>> 8) & 255; b[p + 6] = (hi >>> 16) & 255; b[p + 7] = (hi >>> 24) & 255;
    this.pos = p + 8;
  }

  private anyValue(field: number, v: unknown): void {
    const m = this.open(field);
    switch (typeof v) {
      case 'string': this.string(1, v); break;
      case 'boolean': this.tag(2, WIRE_VARINT); this.varint(v ? 1 : 0); break;
      case 'number':
        if (Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER) { this.tag(3, WIRE_VARINT); this.varint(v); }
        else {
          this.tag(4, WIRE_I64);
          this.ensure(8);
          this.buf.writeDoubleLE(v, this.pos);
          this.pos += 8;
        }
        break;
      default: this.string(1, String(v));
    }
    this.close(m);
  }

  private attributes(field: number, attrs: readonly unknown[]): void {
    for (let i = 0; i < attrs.length; i += 2) {
      const v = attrs[i + 1];
      if (v === undefined || v === null) continue;
      const k = attrs[i] as string;
      if (typeof v === 'string' ? this.shortStringKv(field, k, v) : typeof v === 'number' && this.shortIntKv(field, k, v)) continue;
      const m = this.open(field);
      this.string(1, attrs[i] as string);
      this.anyValue(2, v);
      this.close(m);
    }
  }

  /** Append one span as ScopeSpans field 2 (a complete, length-delimited span). */
  appendSpan(s: EncodableSpan): void {
    const m = this.open(2);
    this.hexBytes(1, s.traceId);
    this.hexBytes(2, s.spanId);
    if (s.traceState) this.string(3, s.traceState);
    if (s.parentSpanId) this.hexBytes(4, s.parentSpanId);
    this.string(5, s.name);
    this.tag(6, WIRE_VARINT); this.varint(s.kind);
    this.nanos(7, s.startMs);
    this.nanos(8, s.endMs);
    this.attributes(9, s.attrs);
    const ev = s.events;
    if (ev !== undefined) for (const e of ev) {
      const em = this.open(11);
      this.nanos(1, e.timeMs);
      this.string(2, e.name);
      if (e.attrs !== undefined) this.attributes(3, e.attrs);
      this.close(em);
    }
    if (s.statusCode !== 0) {
      const sm = this.open(15);
      if (s.statusMessage) this.string(2, s.statusMessage);
      this.tag(3, WIRE_VARINT); this.varint(s.statusCode);
      this.close(sm);
    }
    // flags (field 16, fixed32): the W3C trace flags, and "the parent was remote" bits (0x100 known, 0x200 remote).
    this.tag(16, WIRE_I32);
    this.ensure(4);
    this.buf.writeUInt32LE(s.sampledFlags, this.pos);
    this.pos += 4;
    this.close(m);
  }

  get length(): number { return this.pos; }

  /** What was written: a view of the writer's own memory, valid until it is written again. */
  view(): Buffer { return this.buf.subarray(0, this.pos); }

  /** Empty the writer for reuse, keeping its (grown) buffer. */
  reset(): void { this.pos = 0; }

  /** A copy of what was written, and the writer emptied for reuse. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.pos = 0;
    return out;
  }

  /**
   * One ExportTraceServiceRequest: a single ResourceSpans (this node's resource) with one
   * ScopeSpans. The returned buffer is a view of the writer's own memory: valid until the
   * next encode().
   */
  encode(resource: readonly unknown[], scopeName: string, scopeVersion: string, spans: readonly EncodableSpan[], from = 0, to = spans.length): Buffer {
    this.pos = 0;
    const rs = this.open(1);
    const r = this.open(1);
    this.attributes(1, resource);
    this.close(r);
    const ss = this.open(2);
    const sc = this.open(1);
    this.string(1, scopeName);
    this.string(2, scopeVersion);
    this.close(sc);
    for (let i = from; i < to; i++) this.appendSpan(spans[i]!);
    this.close(ss);
    this.close(rs);
    return this.buf.subarray(0, this.pos);
  }

  /**
   * The parts of an ExportTraceServiceRequest around already-encoded spans (appendSpan
   * output), for `frame()`: the resource field and the scope field, encoded once.
   */
  static envelope(resource: readonly unknown[], scopeName: string, scopeVersion: string): Envelope {
    const w = new OtlpWriter(1024);
    const r = w.open(1);
    w.attributes(1, resource);
    w.close(r);
    const resourceField = w.take();
    const sc = w.open(1);
    w.string(1, scopeName);
    w.string(2, scopeVersion);
    w.close(sc);
    return { resourceField, scopeField: w.take() };
  }

  /** A whole ExportTraceServiceRequest from the envelope and a run of encoded spans. */
  static frame(e: Envelope, spans: Buffer): Buffer {
    return Buffer.concat(OtlpWriter.frameParts(e, spans));
  }

  /**
   * The same as the parts to send one after the other (the spans are not copied: a batch
   * of 512 spans is ~250 KB, and a fresh buffer that size is a fresh mapping to fault in).
   */
  static frameParts(e: Envelope, spans: Buffer): Buffer[] {
    const ssLen = e.scopeField.length + spans.length;
    const rsLen = e.resourceField.length + 1 + varintSize(ssLen) + ssLen;
    const head = new OtlpWriter(64);
    head.tag(1, WIRE_LEN); head.varint(rsLen);
    const a = head.take();
    head.tag(2, WIRE_LEN); head.varint(ssLen);
    const b = head.take();
    return [a, e.resourceField, b, e.scopeField, spans];
  }
}

export interface Envelope { readonly resourceField: Buffer; readonly scopeField: Buffer }

function varintSize(v: number): number {
  let n = 1;
  while (v > 127) { v = Math.floor(v / 128); n++; }
  return n;
}

/** Hex digit (ASCII code) → its value: 0-9, a-f, A-F. */
const NIBBLE = new Uint8Array(128);
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i;
for (let i = 0; i < 6; i++) { NIBBLE[97 + i] = 10 + i; NIBBLE[65 + i] = 10 + i; }
