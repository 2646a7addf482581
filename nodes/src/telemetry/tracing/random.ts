/**
 * Random hex ids for trace and span ids: bytes drawn in bulk (4 KiB) and hex-encoded once per
 * refill, an id is a slice of that string (no syscall or encoder call per id).
 */
import { randomFillSync } from 'node:crypto';

const RANDOM = Buffer.allocUnsafe(4096);
let hex = '';
let offset = Number.POSITIVE_INFINITY;

export function randomHex(bytes: number): string {
  const digits = bytes * 2;
  if (offset + digits > hex.length) {
    randomFillSync(RANDOM);
    hex = RANDOM.toString('hex');
    offset = 0;
  }
  const s = hex.slice(offset, (offset += digits));
  // An all-zero id is invalid (W3C trace context); vanishingly rare, but never send one.
  return s.charCodeAt(0) === 48 && /^0+$/.test(s) ? randomHex(bytes) : s;
}
