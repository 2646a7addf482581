/**
 * Retry policy, compiled once from `retries` config: which failures are retried, which
 * methods, and how long to wait (exponential backoff with full jitter, from AWS's
 * "Exponential Backoff And Jitter": spreads the retries of a burst of failures instead of
 * sending them back in waves). The attempt loop lives in forward.ts; this file decides only.
 */
import type { Upstream } from '../schema/model.ts';
import { parseDuration } from '../schema/duration.ts';

export type RetryConfig = NonNullable<Upstream['retries']>;

/** Failure kinds as bits (a request's failure is exactly one of them). */
export const CONNECT_ERROR = 1;
export const TIMEOUT = 2;
export const RESET = 4;

/**
 * The kind of a transport failure, or 0 when it is none of the retryable ones. Connect errors
 * include the connect timeout: nothing reached the upstream, so retrying is always safe.
 */
export function failureKind(err: unknown): number {
  switch ((err as { code?: string } | null)?.code) {
    case 'ECONNREFUSED':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return CONNECT_ERROR;
    case 'UND_ERR_HEADERS_TIMEOUT':
      return TIMEOUT;
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      return RESET;
    default:
      return 0;
  }
}

/** RFC 9110 §9.2.2: methods whose repetition has the same effect as one request. */
export const IDEMPOTENT_METHODS: readonly string[] = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'];
const DEFAULT_ON: RetryConfig['on'] = ['connect-error', 502, 503, 504];

export class RetryPolicy {
  /** Retries after the first try. */
  readonly attempts: number;
  /** Time to the response head of one try; 0 = whatever is left of the overall deadline. */
  readonly perTryMs: number;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly percent: number;
  readonly minConcurrent: number;
  private readonly methods: ReadonlySet<string>;
  private readonly kinds: number;
  /** statuses[s] === 1 when status s is retried. */
  private readonly statuses = new Uint8Array(600);

  constructor(c: RetryConfig, where: string) {
    this.attempts = c.attempts ?? 2;
    this.perTryMs = c.perTryTimeout === undefined ? 0 : parseDuration(c.perTryTimeout);
    if (c.perTryTimeout !== undefined && this.perTryMs <= 0) throw new Error(`${where}.perTryTimeout: must be more than 0`);
    this.baseMs = parseDuration(c.backoff?.base ?? '25ms');
    this.maxMs = parseDuration(c.backoff?.max ?? '250ms');
    if (this.baseMs > this.maxMs) throw new Error(`${where}.backoff: base must not be more than max`);
    this.percent = c.budget?.percent ?? 20;
    this.minConcurrent = c.budget?.minConcurrent ?? 3;
    this.methods = new Set(c.methods ?? IDEMPOTENT_METHODS);
    let kinds = 0;
    for (const o of c.on ?? DEFAULT_ON!) {
      if (o === 'connect-error') kinds |= CONNECT_ERROR;
      else if (o === 'timeout') kinds |= TIMEOUT;
      else if (o === 'reset') kinds |= RESET;
      else this.statuses[o] = 1;
    }
    this.kinds = kinds;
  }

  retriesMethod(method: string): boolean { return this.methods.has(method); }
  retriesStatus(status: number): boolean { return this.statuses[status] === 1; }
  retriesFailure(kind: number): boolean { return (this.kinds & kind) !== 0; }

  /** Wait before retry number `n` (0-based): uniform in [0, min(max, base * 2^n)). */
  delay(n: number, random: number = Math.random()): number {
    const cap = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(n, 30));
    return Math.floor(random * cap);
  }
}
