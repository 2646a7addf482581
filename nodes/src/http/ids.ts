/**
 * Request ids and W3C trace context (https://www.w3.org/TR/trace-context/). Random bytes
 * are drawn in bulk (4 KiB) and turned into hex digits once per refill; an id is a slice
 * of that one string, so ids cost neither a syscall nor an encoding call per request.
 * (Node's own hex encoder mallocs a buffer of twice the size each time, and a large malloc
 * among many small frees made glibc consolidate its free lists: visible in profiles.)
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

function randomHex(bytes: number): string {
  const digits = bytes * 2;
  if (offset + digits > hex.length) refill();
  return hex.slice(offset, (offset += digits));
}

const VALID_ID = /^[A-Za-z0-9._:@=+/-]{8,200}$/;

/** Keep a client's X-Request-Id only if it is a sane token; otherwise make a new one. */
export function requestId(incoming: string | string[] | undefined): string {
  if (typeof incoming === 'string' && VALID_ID.test(incoming)) return incoming;
  return randomHex(16);
}

const TRACEPARENT = /^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);

/**
 * Continue the client's trace with a new span id for the gateway's hop, or start a trace.
 * A new trace reuses `ownId` (a request id the gateway generated: 32 lower-case hex) as its
 * trace id, so logs and traces join on one value.
 */
export function traceparent(incoming: string | string[] | undefined, ownId?: string): string {
  if (typeof incoming === 'string') {
    const m = TRACEPARENT.exec(incoming);
    if (m && m[1] !== ZERO_TRACE) return `00-${m[1]}-${randomHex(8)}-${m[2]}`;
  }
  const trace = ownId ?? randomHex(16);
  return `00-${trace}-${randomHex(8)}-01`;
}
