/**
 * Request ids and W3C trace context (https://www.w3.org/TR/trace-context/). Ids are slices
 * of the process-wide random hex pool (core/random-hex.ts).
 */
import { randomHex } from '../core/random-hex.ts';

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
