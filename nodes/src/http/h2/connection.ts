/**
 * What both ends of Gatehouse's HTTP/2 share (RFC 9113): the frame constants, the write queue
 * (the frames of one event-loop turn leave in one `socket.write`), HEADERS/CONTINUATION and DATA
 * framing against the peer's windows, the frame reader, header blocks split over CONTINUATION
 * (bounded in bytes and frames), the peer's SETTINGS, WINDOW_UPDATE and the connection's receive
 * window (credited as data arrives; a stream's own window bounds what it holds). The client
 * (upstream/h2/wire/session.ts) and the server (listeners/h2-wire.ts) add their roles: which
 * streams exist, what a header block means, how the connection ends.
 */
import type { Socket } from 'node:net';
import { HpackEncoder } from '../hpack/hpack.ts';

export const DATA = 0, HEADERS = 1, PRIORITY = 2, RST_STREAM = 3, SETTINGS = 4, PUSH_PROMISE = 5, PING = 6, GOAWAY = 7, WINDOW_UPDATE = 8, CONTINUATION = 9;
export const END_STREAM = 0x1, ACK = 0x1, END_HEADERS = 0x4, PADDED = 0x8, PRIORITY_FLAG = 0x20;
export const NO_ERROR = 0, PROTOCOL_ERROR = 1, INTERNAL_ERROR = 2, FLOW_CONTROL_ERROR = 3, STREAM_CLOSED = 5, FRAME_SIZE_ERROR = 6, REFUSED_STREAM = 7, CANCEL = 8, COMPRESSION_ERROR = 9, ENHANCE_YOUR_CALM = 11;

/** Largest frame we take (SETTINGS_MAX_FRAME_SIZE left at its default). */
export const MAX_FRAME = 16_384;
/** Our receive window for the connection (credited as data arrives). */
export const CONN_WINDOW = 4 * 1024 * 1024;
export const MAX_WINDOW = 2 ** 31 - 1;
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const EMPTY = Buffer.alloc(0);
/** Unsent bytes past which the peer is not reading what it makes us send (acks, resets). */
const MAX_UNSENT = 8 * 1024 * 1024;

/** A frame head (9 bytes); for frames other than DATA, HEADERS and CONTINUATION, room for the payload after it. */
export function frameHead(len: number, type: number, flags: number, id: number): Buffer {
  const b = Buffer.allocUnsafe(9 + (type === DATA || type === HEADERS || type === CONTINUATION ? 0 : len));
  b[0] = len >>> 16; b[1] = (len >>> 8) & 0xff; b[2] = len & 0xff; b[3] = type; b[4] = flags;
  b.writeUInt32BE(id, 5);
  return b;
}

/** What DATA framing needs of a stream. */
export interface SendingStream { readonly id: number; sendWindow: number }

export abstract class H2Connection {
  readonly socket: Socket;
  protected readonly encoder = new HpackEncoder();
  /** The peer's SETTINGS_INITIAL_WINDOW_SIZE: a new stream's send window. */
  peerWindow = 65_535;
  protected peerMaxFrame = 16_384;
  /** The peer's connection window for what we send. */
  protected sendWindow = 65_535;
  /** Our connection window, and what arrived since the last WINDOW_UPDATE for it. */
  private recvWindow = CONN_WINDOW;
  private connUnacked = 0;
  protected outBytes = 0;
  private outq: Buffer[] = [];
  private flushing = false;
  private rest: Buffer | undefined = undefined;
  /** A header block split over CONTINUATION frames. */
  protected contId = 0;
  private contFlags = 0;
  private contParts: Buffer[] = [];
  private contBytes = 0;
  private contCount = 0;
  /** The most bytes and CONTINUATION frames one header block may take. */
  private readonly maxBlock: number;
  private readonly maxContinuations: number;

  constructor(socket: Socket, maxBlock: number, maxContinuations: number) {
    this.socket = socket;
    this.maxBlock = maxBlock;
    this.maxContinuations = maxContinuations;
  }

  /** False once nothing more may be written or read (the connection failed, ended or is gone). */
  protected abstract get live(): boolean;
  /** One frame, its payload at buf[p0..p1]. */
  protected abstract frame(type: number, flags: number, id: number, buf: Buffer, p0: number, p1: number): void;
  /** A complete header block for stream `id` (flags of its HEADERS frame). */
  protected abstract block(id: number, flags: number, block: Buffer): void;
  /** A DATA payload for stream `id` (after padding: buf[p0..p1]); `len` counts against its window. */
  protected abstract streamData(id: number, buf: Buffer, p0: number, p1: number, pad: number, len: number, end: boolean): void;
  /** A WINDOW_UPDATE of `n` (> 0) for stream `id`. */
  protected abstract streamWindow(id: number, n: number): void;
  /** The peer's windows grew: send what waited. */
  protected abstract unblock(): void;
  /** The peer broke the protocol (or flooded us): GOAWAY with `code` and close. */
  protected abstract fail(code: number, why: string): void;

  // ---- writing ------------------------------------------------------------------------------

  queue(b: Buffer): void {
    if (!this.live) return;
    this.outq.push(b);
    this.outBytes += b.length;
    if (!this.flushing) { this.flushing = true; setImmediate(flushConnection, this); }
  }

  /** Send what is queued now, in one write. */
  flush(): void {
    this.flushing = false;
    const q = this.outq;
    if (q.length === 0 || this.socket.destroyed) return;
    this.outq = [];
    const n = this.outBytes;
    this.outBytes = 0;
    this.socket.write(q.length === 1 ? q[0]! : Buffer.concat(q, n));
  }

  /** A header list as HEADERS (+ CONTINUATION past the peer's frame size). */
  headerFrames(id: number, fields: string[], end: boolean): void {
    const block = this.encoder.encode(fields);
    const max = this.peerMaxFrame;
    if (block.length <= max) {
      this.queue(frameHead(block.length, HEADERS, END_HEADERS | (end ? END_STREAM : 0), id));
      this.queue(block);
      return;
    }
    for (let off = 0; off < block.length; off += max) {
      const part = block.subarray(off, off + max);
      const last = off + max >= block.length;
      this.queue(frameHead(part.length, off === 0 ? HEADERS : CONTINUATION, (last ? END_HEADERS : 0) | (off === 0 && end ? END_STREAM : 0), id));
      this.queue(part);
    }
  }

  /** DATA for as much of `chunk` as the windows allow; the rest back, or undefined when all went (END_STREAM with the last if `end`). */
  sendData(s: SendingStream, chunk: Buffer, end: boolean): Buffer | undefined {
    let off = 0;
    const len = chunk.length;
    for (;;) {
      const n = Math.min(len - off, s.sendWindow, this.sendWindow, this.peerMaxFrame);
      const last = off + n === len;
      if (n <= 0 && !(last && end && len - off === 0)) return off === 0 ? chunk : chunk.subarray(off);
      this.queue(frameHead(n, DATA, last && end ? END_STREAM : 0, s.id));
      if (n > 0) this.queue(off === 0 && last ? chunk : chunk.subarray(off, off + n));
      s.sendWindow -= n;
      this.sendWindow -= n;
      off += n;
      if (last) return undefined;
    }
  }

  /** What the peer's connection window still takes. */
  windowLeft(): number { return this.sendWindow; }

  windowUpdate(id: number, n: number): void {
    const b = frameHead(4, WINDOW_UPDATE, 0, id);
    b.writeUInt32BE(n, 9);
    this.queue(b);
  }

  rst(id: number, code: number): void {
    const b = frameHead(4, RST_STREAM, 0, id);
    b.writeUInt32BE(code, 9);
    this.queue(b);
  }

  protected goaway(lastId: number, code: number): void {
    const b = frameHead(8, GOAWAY, 0, 0);
    b.writeUInt32BE(lastId, 9);
    b.writeUInt32BE(code, 13);
    this.queue(b);
  }

  /** More than 8 MiB unsent: the peer does not read what its frames make us send. */
  protected overUnsent(): boolean { return this.socket.writableLength + this.outBytes > MAX_UNSENT; }

  // ---- reading ------------------------------------------------------------------------------

  /** The frames in a chunk read from the socket (a frame cut at its end waits for the next). */
  protected readFrames(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest !== undefined) { buf = Buffer.concat([this.rest, chunk]); this.rest = undefined; }
    const end = buf.length;
    let off = 0;
    while (end - off >= 9 && this.live) {
      const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      if (len > MAX_FRAME) { this.fail(FRAME_SIZE_ERROR, 'frame too large'); return; }
      if (end - off - 9 < len) break;
      const type = buf[off + 3]!;
      const flags = buf[off + 4]!;
      const id = buf.readUInt32BE(off + 5) & 0x7fffffff;
      const p = off + 9;
      off = p + len;
      if (this.contId !== 0 && type !== CONTINUATION) { this.fail(PROTOCOL_ERROR, 'expected CONTINUATION'); return; }
      this.frame(type, flags, id, buf, p, off);
    }
    if (off < end && this.live) this.rest = buf.subarray(off);
  }

  /** DATA: the connection window, padding, then the stream's part (streamData). */
  protected dataFrame(flags: number, id: number, buf: Buffer, p0: number, p1: number): void {
    if (id === 0) { this.fail(PROTOCOL_ERROR, 'DATA on stream 0'); return; }
    const len = p1 - p0;
    this.recvWindow -= len;
    if (this.recvWindow < 0) { this.fail(FLOW_CONTROL_ERROR, 'connection window exceeded'); return; }
    this.connUnacked += len;
    if (this.connUnacked >= CONN_WINDOW / 2) { this.recvWindow += this.connUnacked; this.windowUpdate(0, this.connUnacked); this.connUnacked = 0; }
    let pad = 0;
    if ((flags & PADDED) !== 0) {
      if (len < 1 || buf[p0]! >= len) { this.fail(PROTOCOL_ERROR, 'bad padding'); return; }
      pad = buf[p0]! + 1;
      p1 -= buf[p0]!;
      p0++;
    }
    this.streamData(id, buf, p0, p1, pad, len, (flags & END_STREAM) !== 0);
  }

  /** HEADERS: padding and priority off, then the block, or the start of one CONTINUATION frames finish. */
  protected headersFrame(flags: number, id: number, buf: Buffer, p0: number, p1: number): void {
    if (id === 0) { this.fail(PROTOCOL_ERROR, 'HEADERS on stream 0'); return; }
    if ((flags & PADDED) !== 0) {
      const pad = buf[p0]!;
      if (p1 - p0 < 1 || pad >= p1 - p0) { this.fail(PROTOCOL_ERROR, 'bad padding'); return; }
      p0++; p1 -= pad;
    }
    if ((flags & PRIORITY_FLAG) !== 0) {
      if (p1 - p0 < 5) { this.fail(FRAME_SIZE_ERROR, 'short HEADERS'); return; }
      p0 += 5;
    }
    const frag = buf.subarray(p0, p1);
    if ((flags & END_HEADERS) === 0) {
      this.contId = id; this.contFlags = flags; this.contParts = [frag]; this.contBytes = frag.length; this.contCount = 0;
      return;
    }
    this.block(id, flags, frag);
  }

  /** CONTINUATION: a block longer or in more frames than allowed closes the connection (ENHANCE_YOUR_CALM). */
  protected continuationFrame(flags: number, id: number, buf: Buffer, p0: number, p1: number): void {
    if (this.contId === 0 || id !== this.contId) { this.fail(PROTOCOL_ERROR, 'unexpected CONTINUATION'); return; }
    this.contParts.push(buf.subarray(p0, p1));
    this.contBytes += p1 - p0;
    if (++this.contCount > this.maxContinuations || this.contBytes > this.maxBlock) { this.fail(ENHANCE_YOUR_CALM, 'continuation_flood'); return; }
    if ((flags & END_HEADERS) === 0) return;
    const block = Buffer.concat(this.contParts, this.contBytes);
    this.contId = 0; this.contParts = []; this.contBytes = 0;
    this.block(id, this.contFlags, block);
  }

  /**
   * The settings of a SETTINGS frame (not an ack, length checked): table size, push (0 or 1),
   * initial window (moving every open stream's window by the change: `streams`), frame size.
   * `other` sees the rest. False when one broke the protocol (the connection is failed).
   */
  protected applySettings(buf: Buffer, p0: number, p1: number, streams: Iterable<SendingStream>, other?: (k: number, v: number) => void): boolean {
    for (let p = p0; p < p1; p += 6) {
      const k = buf.readUInt16BE(p);
      const v = buf.readUInt32BE(p + 2);
      switch (k) {
        case 1: this.encoder.setPeerTableSize(v); break;
        case 2: if (v > 1) { this.fail(PROTOCOL_ERROR, 'bad ENABLE_PUSH'); return false; } break;
        case 4: {
          if (v > MAX_WINDOW) { this.fail(FLOW_CONTROL_ERROR, 'initial window too large'); return false; }
          const delta = v - this.peerWindow;
          this.peerWindow = v;
          for (const s of streams) s.sendWindow += delta;
          break;
        }
        case 5:
          if (v < 16_384 || v > 16_777_215) { this.fail(PROTOCOL_ERROR, 'bad max frame size'); return false; }
          this.peerMaxFrame = v;
          break;
        default: other?.(k, v); break;
      }
    }
    return true;
  }

  /** WINDOW_UPDATE: the connection's window here, a stream's in streamWindow; then what waited goes. */
  protected windowUpdateFrame(id: number, buf: Buffer, p0: number, p1: number): void {
    if (p1 - p0 !== 4) { this.fail(FRAME_SIZE_ERROR, 'bad WINDOW_UPDATE'); return; }
    const n = buf.readUInt32BE(p0) & 0x7fffffff;
    if (id === 0) {
      if (n === 0) { this.fail(PROTOCOL_ERROR, 'zero WINDOW_UPDATE'); return; }
      this.sendWindow += n;
      if (this.sendWindow > MAX_WINDOW) { this.fail(FLOW_CONTROL_ERROR, 'connection window overflow'); return; }
    } else this.streamWindow(id, n);
    if (this.live) this.unblock();
  }
}

function flushConnection(c: H2Connection): void { c.flush(); }
