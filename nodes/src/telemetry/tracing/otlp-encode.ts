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
    const max = s.length * 3;
    this.ensure(max + 5);
    if (max < 128) {
      const mark = this.pos++;
      const n = this.buf.write(s, this.pos, 'utf8');
      this.buf[mark] = n;
      this.pos += n;
      return;
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.buf.write(s, this.pos, 'utf8');
    this.pos += n;
  }

  private hexBytes(field: number, hex: string): void {
    const n = hex.length >> 1;
    this.tag(field, WIRE_LEN);
    this.ensure(n + 1);
    this.buf[this.pos++] = n;
    this.buf.write(hex, this.pos, 'hex');
    this.pos += n;
  }

  /** fixed64 nanoseconds since the epoch from fractional epoch milliseconds. */
  private nanos(field: number, ms: number): void {
    this.tag(field, WIRE_I64);
    this.ensure(8);
    const whole = Math.floor(ms);
    const ns = BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
    this.buf.writeBigUInt64LE(ns, this.pos);
    this.pos += 8;
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
      const m = this.open(field);
      this.string(1, attrs[i] as string);
      this.anyValue(2, v);
      this.close(m);
    }
  }

  private span(s: EncodableSpan): void {
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
    for (let i = from; i < to; i++) this.span(spans[i]!);
    this.close(ss);
    this.close(rs);
    return this.buf.subarray(0, this.pos);
  }
}
