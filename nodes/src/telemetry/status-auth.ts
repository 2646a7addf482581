/**
 * Who may change state through the status port (today: cache purges). Reads are open to
 * whoever reaches the port; a change is accepted
 *  - never from a browser: a web page can make the operator's browser POST to 127.0.0.1
 *    (CSRF) but cannot remove `Origin` / `Sec-Fetch-Site`, so either header is a 403;
 *  - with `Authorization: Bearer <token>` whose sha256 digest is `node.purgeToken`, from any
 *    peer; a wrong, malformed or repeated Authorization is a 401 even from loopback;
 *  - without Authorization, from a loopback peer only.
 * The token is compared as a digest with crypto.timingSafeEqual: the config holds only the
 * digest (like consumers' API keys) and the compare takes the same time for every token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export interface StatusRefusal { status: 401 | 403; error: string; headers: Record<string, string> }

const BEARER = /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i;
const CHALLENGE = 'Bearer realm="gatehouse-status"';

export class StatusWriteGate {
  readonly #digest: Buffer | undefined;

  /** `tokenDigest`: `sha256:<64 hex>` (node.purgeToken), or undefined for loopback only. */
  constructor(tokenDigest?: string) {
    this.#digest = tokenDigest === undefined ? undefined : Buffer.from(tokenDigest.slice('sha256:'.length), 'hex');
    if (this.#digest !== undefined && this.#digest.length !== 32) throw new Error('purgeToken: must be sha256:<64 hex digits>');
  }

  get hasToken(): boolean { return this.#digest !== undefined; }

  /** Why this request may not change state, or undefined when it may. */
  refusal(req: IncomingMessage): StatusRefusal | undefined {
    if (req.headers.origin !== undefined || req.headers['sec-fetch-site'] !== undefined) return { status: 403, error: 'not accepted from browsers (Origin or Sec-Fetch-Site)', headers: {} };
    if (this.#digest !== undefined && countHeader(req.rawHeaders, 'authorization') > 0) {
      return this.#tokenMatches(req) ? undefined : { status: 401, error: 'invalid bearer token', headers: { 'www-authenticate': `${CHALLENGE}, error="invalid_token"` } };
    }
    if (isLoopback(req.socket.remoteAddress)) return undefined;
    if (this.#digest !== undefined) return { status: 401, error: 'a bearer token is required from a non-loopback peer', headers: { 'www-authenticate': CHALLENGE } };
    return { status: 403, error: 'accepted from loopback only (or with the node.purgeToken bearer token when set)', headers: {} };
  }

  #tokenMatches(req: IncomingMessage): boolean {
    // Node keeps only the first of two Authorization headers: two are ambiguous, refused.
    if (countHeader(req.rawHeaders, 'authorization') !== 1) return false;
    const m = BEARER.exec(req.headers.authorization ?? '');
    if (m === null) return false;
    return timingSafeEqual(createHash('sha256').update(m[1]!).digest(), this.#digest!);
  }
}

function countHeader(raw: readonly string[], name: string): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) n++;
  return n;
}

export function isLoopback(a: string | undefined): boolean {
  return a !== undefined && (a.startsWith('127.') || a === '::1' || a.startsWith('::ffff:127.'));
}
