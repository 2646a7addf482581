/**
 * Random hex ids (request ids, trace and span ids) from one process-wide pool: 4 KiB of
 * random bytes drawn at once and turned into hex digits through a table into a reused
 * buffer; an id is a slice of that one string, so ids cost neither a syscall nor an
 * encoding call per id. (Node's own hex encoder mallocs a buffer of twice the size each
 * time, and a large malloc among many small frees made glibc consolidate its free lists:
 * visible in profiles.)
 */
import { randomFillSync } from 'node:crypto';

const RANDOM = Buffer.allocUnsafe(4096);
const DIGITS = Buffer.allocUnsafe(RANDOM.length * 2);
const HEX = Buffer.from('0123456789abcdef', 'latin1');
let hex = '';
/** Next unused hex digit in `hex`. */
let offset = Number.POSITIVE_INFINITY;

function refill(): void {
  randomFillSync(RANDOM);
  for (let i = 0; i < RANDOM.length; i++) {
    const b = RANDOM[i]!;
    DIGITS[2 * i] = HEX[b >> 4]!;
    DIGITS[2 * i + 1] = HEX[b & 15]!;
  }
  hex = DIGITS.toString('latin1');
  offset = 0;
}

/** `bytes` random bytes as lower-case hex; never all zeros (an invalid W3C trace or span id). */
export function randomHex(bytes: number): string {
  const digits = bytes * 2;
  if (offset + digits > hex.length) refill();
  const s = hex.slice(offset, (offset += digits));
  return s.charCodeAt(0) === 48 && /^0+$/.test(s) ? randomHex(bytes) : s; // vanishingly rare
}
