/**
 * A raw HTTP/2 client for attack tests: writes frames as bytes (no client library between
 * the test and the wire, so floods a well-behaved library refuses to send can be sent) and
 * parses what comes back.
 */
import net from 'node:net';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const T = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const F = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;

export interface Frame { type: number; flags: number; stream: number; payload: Buffer }

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK integer with an N-bit prefix. */
function hpackInt(first: number, prefixBits: number, n: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (n < max) return [first | n];
  const out = [first | max];
  n -= max;
  while (n >= 128) { out.push((n & 127) | 128); n >>= 7; }
  out.push(n);
  return out;
}

/** A literal header without indexing, new name (no Huffman). */
export function literal(name: string, value: string): Buffer {
  const n = Buffer.from(name, 'latin1');
  const v = Buffer.from(value, 'latin1');
  return Buffer.concat([Buffer.from([0x00]), Buffer.from(hpackInt(0, 7, n.length)), n, Buffer.from(hpackInt(0, 7, v.length)), v]);
}

/** A request header block: GET (or method) path, http, authority, plus extra headers. */
export function requestBlock(path: string, extra: Array<[string, string]> = [], method = 'GET'): Buffer {
  return Buffer.concat([literal(':method', method), literal(':scheme', 'http'), literal(':path', path), literal(':authority', 'localhost'), ...extra.map(([k, v]) => literal(k, v))]);
}

export function settings(pairs: Array<[number, number]> = []): Buffer {
  const p = Buffer.alloc(pairs.length * 6);
  pairs.forEach(([id, v], i) => { p.writeUInt16BE(id, i * 6); p.writeUInt32BE(v, i * 6 + 2); });
  return frame(T.SETTINGS, 0, 0, p);
}

export function rst(stream: number, code = 8 /* CANCEL */): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(T.RST_STREAM, 0, stream, p);
}

export class RawH2 {
  readonly sock: net.Socket;
  readonly frames: Frame[] = [];
  closed = false;
  private buf = Buffer.alloc(0);

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.on('data', (d: Buffer) => { this.buf = Buffer.concat([this.buf, d]); this.parse(); });
    sock.on('close', () => { this.closed = true; });
    sock.on('error', () => { this.closed = true; });
  }

  static async connect(port: number, initial: Array<[number, number]> = []): Promise<RawH2> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    const c = new RawH2(sock);
    c.write(Buffer.concat([PREFACE, settings(initial)]));
    return c;
  }

  write(b: Buffer): boolean {
    if (this.closed || this.sock.destroyed) return false;
    return this.sock.write(b);
  }

  get goaway(): Frame | undefined { return this.frames.find((f) => f.type === T.GOAWAY); }
  /** GOAWAY's error code (11 = ENHANCE_YOUR_CALM), or undefined. */
  get goawayCode(): number | undefined { const g = this.goaway; return g ? g.payload.readUInt32BE(4) : undefined; }
  of(type: number, stream?: number): Frame[] { return this.frames.filter((f) => f.type === type && (stream === undefined || f.stream === stream)); }

  close(): void { this.sock.destroy(); }

  private parse(): void {
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) return;
      const f: Frame = { type: this.buf[3]!, flags: this.buf[4]!, stream: this.buf.readUInt32BE(5) & 0x7fffffff, payload: this.buf.subarray(9, 9 + len) };
      this.buf = this.buf.subarray(9 + len);
      // Acknowledge the server's SETTINGS like a real client would.
      if (f.type === T.SETTINGS && !(f.flags & F.ACK)) this.write(frame(T.SETTINGS, F.ACK, 0));
      this.frames.push(f);
    }
  }
}
