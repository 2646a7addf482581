/**
 * Per-request state of the attempt loop (forward.ts's handler runs the loop): the dispatch
 * options reused by every try, the overall deadline and each try's timer, the budget slot,
 * and the next try's target. Exists only for requests to upstreams with `retries`.
 */
import type { H1Request } from './h1/pool.ts';
import type { Target } from './target.ts';
import type { BreakerState } from './breaker/types.ts';
import type { RetryPolicy } from './retry.ts';
import type { RetryBudget } from './budget.ts';
import type { UpstreamRuntime } from './upstream.ts';

/** What the state calls back on the handler when a timer fires. */
export interface AttemptOwner {
  /** The backoff ended: send the next try. */
  nextTry(): void;
  /** The try's time is up before its response head. */
  tryTimedOut(): void;
}

/**
 * Per-request retry state. Allocated only on upstreams with `retries`, for every request to
 * them (even one that may not be retried: it still counts as active for the budget).
 */
export class Retrying {
  readonly policy: RetryPolicy;
  readonly budget: RetryBudget;
  /** The dispatch options, reused for every try (origin, Host and timeout change). */
  readonly opts: H1Request;
  /** When the response head must have arrived, all tries together (performance.now() ms). */
  readonly deadline: number;
  readonly tried: Target[];
  /** Retries this request may still make; 0 from the start for methods and bodies that cannot be retried. */
  left: number;
  /** Retries made so far: the backoff exponent. */
  made = 0;
  /** This request holds a slot of the retry budget (from the decision to the retry's answer). */
  slot = false;
  /** The current try's response is read and dropped; a retry follows. */
  discarding = false;
  /** Waiting before the next try. */
  timer: NodeJS.Timeout | undefined = undefined;
  /**
   * This try's timeout: a timer of its own, so each try is bounded within the overall
   * deadline (per-try limits can be a few 100 ms).
   */
  tryTimer: NodeJS.Timeout | undefined = undefined;
  /** The try timed out before the pool handed over its control (abort): abort in onConnect. */
  timedOut = false;
  /** Backoff before the next try, ms. */
  wait = 0;
  /** The next try's target and breaker admission, chosen when the retry was decided. */
  next: Target | undefined = undefined;
  nextBreaker: BreakerState | undefined = undefined;
  nextTicket = -1;
  readonly fire: () => void;
  readonly onTryTimeout: () => void;

  constructor(h: AttemptOwner, up: UpstreamRuntime, opts: H1Request, left: number, start: number, first: Target) {
    this.policy = up.retry!;
    this.budget = up.budget!;
    this.opts = opts;
    this.left = left;
    this.deadline = start + up.responseTimeout;
    this.tried = [first];
    this.fire = () => h.nextTry();
    this.onTryTimeout = () => h.tryTimedOut();
    this.budget.active++;
    this.startTry(start);
  }

  /** Arm the timeout of a try starting now: the per-try limit, never past the overall deadline. */
  startTry(now: number): void {
    const left = this.deadline - now;
    const per = this.policy.perTryMs;
    const ms = Math.max(1, Math.ceil(per > 0 && per < left ? per : left));
    // The pool's own head timeout stays as a backstop at the same value.
    this.opts.headersTimeout = ms;
    this.timedOut = false;
    this.tryTimer = setTimeout(this.onTryTimeout, ms);
  }

  clearTryTimer(): void {
    if (this.tryTimer !== undefined) { clearTimeout(this.tryTimer); this.tryTimer = undefined; }
  }

  /** Give back the next try's breaker slot (client gone before it was sent). */
  dropNext(): void {
    this.nextBreaker?.release(this.nextTicket);
    this.next = undefined;
    this.nextBreaker = undefined;
    this.nextTicket = -1;
  }

  /** The request is over: leave the active count and give back what is held. */
  end(): void {
    this.clearTryTimer();
    this.budget.active--;
    if (this.slot) { this.slot = false; this.budget.release(); }
    this.dropNext();
  }
}

