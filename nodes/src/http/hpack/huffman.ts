// The HPACK Huffman code (RFC 7541 §5.2, Appendix B): an encoder, its encoded length, and a
// decoder driven by a byte-at-a-time state machine built once at module load.
//
// The code of Appendix B is canonical: within each length, codes are consecutive in symbol order,
// and each length starts where the shorter one left off, shifted. So the code lengths alone define
// it; the codes are derived from them below (hpack.test.ts checks some against the appendix).

/** Code length in bits of each symbol 0..255, then EOS (256); 16 a row. */
const LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;

/** Code lengths and codes (right-aligned) by symbol, EOS included. */
export const HUFFMAN_LENGTHS = Uint8Array.from(LENGTHS);
export const HUFFMAN_CODES = new Uint32Array(257);
{
  const bySize = [...HUFFMAN_LENGTHS.keys()].sort((a, b) => HUFFMAN_LENGTHS[a]! - HUFFMAN_LENGTHS[b]! || a - b);
  let code = 0;
  let len = HUFFMAN_LENGTHS[bySize[0]!]!;
  for (const sym of bySize) {
    code *= 2 ** (HUFFMAN_LENGTHS[sym]! - len);
    len = HUFFMAN_LENGTHS[sym]!;
    HUFFMAN_CODES[sym] = code++;
  }
  if (code !== 2 ** 30) throw new Error('huffman: code lengths do not form a complete code');
}

// ---- decoder ---------------------------------------------------------------------------------
// The code tree has 257 leaves, so 256 inner nodes; a decoder state is an inner node (0 = root,
// nothing pending). TRANSITIONS[state << 8 | byte] packs what feeding that byte does:
//   bits 0-7 next state, 8-15 first symbol out, 16-23 second symbol out, 24-25 symbols out (a
//   byte completes at most two: the shortest code has 5 bits), bit 26 EOS decoded (an error).
// ACCEPT[state] says whether the input may end there: at the root, or after at most 7 bits that
// are all ones (the padding, a prefix of EOS; §5.2).

const FAIL = 1 << 26;
const TRANSITIONS = new Uint32Array(256 * 256);
const ACCEPT = new Uint8Array(256);
{
  // child[node * 2 + bit]: an inner node id, or ~symbol for a leaf.
  const child = new Int32Array(512);
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const len = HUFFMAN_LENGTHS[sym]!;
    const code = HUFFMAN_CODES[sym]!;
    let node = 0;
    for (let i = len - 1; i > 0; i--) {
      const slot = node * 2 + ((code >>> i) & 1);
      if (child[slot] === 0) child[slot] = nodes++;
      node = child[slot]!;
    }
    child[node * 2 + (code & 1)] = ~sym;
  }
  if (nodes !== 256) throw new Error('huffman: unexpected tree shape');

  for (let state = 0; state < 256; state++) {
    for (let byte = 0; byte < 256; byte++) {
      let node = state;
      let out = 0;
      let syms = 0;
      let entry = 0;
      for (let i = 7; i >= 0; i--) {
        const next = child[node * 2 + ((byte >>> i) & 1)]!;
        if (next >= 0) { node = next; continue; }
        if (~next === EOS) { entry = FAIL; break; }
        out |= ~next << (8 + 8 * syms++);
        node = 0;
      }
      TRANSITIONS[(state << 8) | byte] = entry || (node | out | (syms << 24));
    }
  }

  ACCEPT[0] = 1;
  for (let i = 0, node = 0; i < 7; i++) ACCEPT[(node = child[node * 2 + 1]!)] = 1;
}

type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

let scratch = Buffer.allocUnsafe(1024) as Latin1Buffer;

/**
 * Decodes the Huffman-coded bytes src[start..end) as a latin1 string, or returns null when they
 * are malformed: they contain EOS, or end in padding longer than 7 bits or not all ones (§5.2).
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string | null {
  // Every symbol takes at least 5 bits.
  const max = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < max) scratch = Buffer.allocUnsafe(Math.max(max, scratch.length * 2)) as Latin1Buffer;
  const out = scratch;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const t = TRANSITIONS[(state << 8) | src[i]!]!;
    if (t & FAIL) return null;
    const syms = t >>> 24;
    if (syms !== 0) {
      out[n++] = t >>> 8;
      if (syms === 2) out[n++] = t >>> 16;
    }
    state = t & 0xff;
  }
  if (ACCEPT[state] === 0) return null;
  if (n >= 8) return out.latin1Slice(0, n);
  let s = ''; // short: cheaper than the native call
  for (let i = 0; i < n; i++) s += String.fromCharCode(out[i]!);
  return s;
}

// ---- encoder ---------------------------------------------------------------------------------

/** Length in bytes of `s` (latin1: one byte per char code, low 8 bits) Huffman-coded and padded. */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_LENGTHS[s.charCodeAt(i) & 0xff]!;
  return (bits + 7) >>> 3;
}

/**
 * Writes `s` (latin1) Huffman-coded into dst at off, padded to a byte with the most significant
 * bits of EOS (all ones); returns the offset after it. dst must have huffmanEncodedLength(s) room.
 */
export function huffmanEncode(s: string, dst: Uint8Array, off: number): number {
  let acc = 0; // pending bits, fewer than 8 between symbols
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    let len = HUFFMAN_LENGTHS[sym]!;
    let code = HUFFMAN_CODES[sym]!;
    if (len > 24) {
      // Keep acc within 31 bits: push the top bits first.
      acc = (acc << (len - 16)) | (code >>> 16);
      bits += len - 16;
      while (bits >= 8) dst[off++] = acc >>> (bits -= 8);
      acc &= (1 << bits) - 1;
      code &= 0xffff;
      len = 16;
    }
    acc = (acc << len) | code;
    bits += len;
    while (bits >= 8) dst[off++] = acc >>> (bits -= 8);
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) dst[off++] = (acc << (8 - bits)) | (0xff >>> bits);
  return off;
}
