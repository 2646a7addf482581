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
import { RollingCounts } from './window.ts';
import { tripsOpen } from './trip.ts';

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

export class LocalBreaker implements BreakerState {
  phase: BreakerPhase = CLOSED;
  admitting = true;
  private readonly s: BreakerSettings;
  private readonly onChange: BreakerListener;
  private readonly clock: Clock;
  private readonly counts: RollingCounts | undefined;
  /** Bumped on every transition; a ticket is the epoch it was granted in. */
  private epoch = 0;
  private consecutive = 0;
  private probesLeft = 0;
  private probesPassed = 0;
  private timer: unknown = undefined;
  private disposed = false;

  constructor(settings: BreakerSettings, onChange: BreakerListener, clock: Clock = realClock) {
    this.s = settings;
    this.onChange = onChange;
    this.clock = clock;
    this.counts = settings.errorRatio > 0 || settings.slowMs > 0 ? new RollingCounts(settings.windowMs) : undefined;
  }

  admit(): number {
    if (this.phase === CLOSED) return this.epoch;
    if (this.phase === OPEN || this.probesLeft === 0) return -1;
    if (--this.probesLeft === 0) { this.admitting = false; this.onChange(HALF_OPEN, HALF_OPEN); }
    return this.epoch;
  }

  record(ticket: number, failed: boolean, latencyMs: number): void {
    if (ticket !== this.epoch || this.disposed) return;
    const s = this.s;
    const slow = s.slowMs > 0 && latencyMs >= s.slowMs;
    if (this.phase === HALF_OPEN) {
      if (failed || slow) this.open();
      else if (++this.probesPassed >= s.probes) this.to(CLOSED);
      return;
    }
    if (this.phase !== CLOSED) return;
    this.consecutive = failed ? this.consecutive + 1 : 0;
    if (tripsOpen(s, this.counts, this.consecutive, this.now, failed, slow)) this.open();
  }

  private readonly now = (): number => this.clock.now();

  release(ticket: number): void {
    if (ticket !== this.epoch || this.disposed || this.phase !== HALF_OPEN) return;
    if (this.probesLeft++ === 0) { this.admitting = true; this.onChange(HALF_OPEN, HALF_OPEN); }
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== undefined) { this.clock.clearTimeout(this.timer); this.timer = undefined; }
  }

  private open(): void {
    this.to(OPEN);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.disposed) this.to(HALF_OPEN);
    }, this.s.openForMs);
  }

  private to(phase: BreakerPhase): void {
    const from = this.phase;
    this.phase = phase;
    this.epoch++;
    this.consecutive = 0;
    this.counts?.reset();
    this.probesLeft = phase === HALF_OPEN ? this.s.probes : 0;
    this.probesPassed = 0;
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
