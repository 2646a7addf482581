/**
 * The in-memory breaker: closed → open (for openFor) → half-open with `probes` trial calls →
 * closed when every probe succeeded, open again at the first failed one. The per-call work
 * is a few integer updates; the only timer is the one that ends the open period.
 *
 * Triggers (any one opens): `failures` consecutive failures (Envoy outlier detection's
 * consecutive_5xx), a failed share of the calls in the window (`errorRatio`, once
 * `minRequests` calls were seen), or a slow share (`slowCall`, Resilience4j's slow-call rate).
 */
import { CLOSED, HALF_OPEN, OPEN, type BreakerKey, type BreakerListener, type BreakerPhase, type BreakerSettings, type BreakerState, type BreakerStore } from './types.ts';
import { CountingBreaker } from './counting.ts';

/** Time source, replaceable in tests. `now` is monotonic ms. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class LocalBreaker extends CountingBreaker {
  private timer: unknown = undefined;

  constructor(settings: BreakerSettings, onChange: BreakerListener, clock: Clock = realClock) {
    super(settings, onChange, clock);
  }

  protected canProbe(): boolean { return true; }

  protected decide(to: typeof OPEN | typeof CLOSED): void {
    if (to === CLOSED) { this.to(CLOSED); return; }
    this.to(OPEN);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.disposed) this.to(HALF_OPEN);
    }, this.settings.openForMs);
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== undefined) { this.clock.clearTimeout(this.timer); this.timer = undefined; }
  }

  private to(phase: BreakerPhase): void {
    const from = this.phase;
    this.reset(phase, phase === HALF_OPEN ? this.settings.probes : 0);
    this.admitting = phase !== OPEN;
    this.onChange(phase, from);
  }
}

/** Breakers in this process only. Stateless itself: every target gets its own LocalBreaker. */
export class LocalBreakerStore implements BreakerStore {
  readonly scope = 'local' as const;
  private readonly clock: Clock;
  constructor(clock: Clock = realClock) { this.clock = clock; }
  create(_key: BreakerKey, settings: BreakerSettings, onChange: BreakerListener): BreakerState {
    return new LocalBreaker(settings, onChange, this.clock);
  }
}
