/**
 * gRPC-Web framing (github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md): the body is
 * length-prefixed frames like gRPC's (1 flag byte, 4-byte big-endian length, payload);
 * flag bit 0x80 marks the trailers frame, whose payload is HTTP/1-style header lines.
 * `application/grpc-web-text` is the same bytes in base64; a client may send it in pieces,
 * each padded on its own, so decoding restarts after every '=' run.
 */

export interface Frame { flags: number; data: Buffer }

/** Split a body into frames; undefined when the framing is broken (a short or truncated frame). */
export function parseFrames(body: Buffer, max: number): Frame[] | 'too-large' | undefined {
  const out: Frame[] = [];
  let i = 0;
  while (i < body.length) {
    if (body.length - i < 5) return undefined;
    const len = body.readUInt32BE(i + 1);
    if (len > max) return 'too-large';
    if (body.length - i - 5 < len) return undefined;
    out.push({ flags: body[i]!, data: body.subarray(i + 5, i + 5 + len) });
    i += 5 + len;
  }
  return out;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decode grpc-web-text: base64 pieces, each possibly padded, concatenated. undefined: not base64. */
export function decodeText(text: string): Buffer | undefined {
  const clean = text.replace(/[\r\n\t ]/g, '');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < clean.length; i++) {
    if (clean.charCodeAt(i) !== 61 /* = */) continue;
    let end = i;
    while (end < clean.length && clean.charCodeAt(end) === 61) end++;
    const piece = clean.slice(start, end);
    if (piece.length % 4 !== 0 || !B64.test(piece)) return undefined;
    parts.push(Buffer.from(piece, 'base64'));
    start = end;
    i = end - 1;
  }
  const rest = clean.slice(start);
  if (rest) {
    if (rest.length % 4 === 1 || !B64.test(rest)) return undefined;
    parts.push(Buffer.from(rest, 'base64'));
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

export function dataFrame(msg: Buffer): Buffer {
  const h = Buffer.allocUnsafe(5);
  h[0] = 0;
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
}

/** grpc-message is percent-encoded (gRPC over HTTP/2, "Responses"). */
export function encodeGrpcMessage(m: string): string {
  return m.replace(/[^\x20-\x24\x26-\x7e]/gu, (c) => Array.from(Buffer.from(c, 'utf8'), (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

export function trailerFrame(lines: Record<string, string>): Buffer {
  let s = '';
  for (const k in lines) s += `${k}:${lines[k]}\r\n`;
  const payload = Buffer.from(s, 'latin1');
  const h = Buffer.allocUnsafe(5);
  h[0] = 0x80;
  h.writeUInt32BE(payload.length, 1);
  return Buffer.concat([h, payload]);
}
