/**
 * What every breaker counts the same way, local or cluster: tickets as epochs (a verdict from
 * a call admitted before the last transition is ignored), consecutive failures, error and
 * slow ratios over the rolling window, and the half-open probe slots. Subclasses
 * say who may probe and what happens to a decision: the local breaker applies it, the
 * cluster breaker hands it to its store, which versions and broadcasts it.
 */
import { CLOSED, HALF_OPEN, OPEN, type BreakerListener, type BreakerPhase, type BreakerSettings, type BreakerState } from './types.ts';
import { RollingCounts } from './window.ts';
import type { Clock } from './local.ts';

export abstract class CountingBreaker implements BreakerState {
  phase: BreakerPhase = CLOSED;
  admitting = true;
  readonly settings: BreakerSettings;
  protected readonly onChange: BreakerListener;
  protected readonly clock: Clock;
  protected disposed = false;
  private readonly counts: RollingCounts | undefined;
  /** Bumped on every transition; a ticket is the epoch it was granted in. */
  private epoch = 0;
  private consecutive = 0;
  private probesLeft = 0;
  private probesPassed = 0;

  constructor(settings: BreakerSettings, onChange: BreakerListener, clock: Clock) {
    this.settings = settings;
    this.onChange = onChange;
    this.clock = clock;
    this.counts = settings.errorRatio > 0 || settings.slowMs > 0 ? new RollingCounts(settings.windowMs) : undefined;
  }

  /** Whether this breaker sends half-open probes (always locally; only the prober in a cluster). */
  protected abstract canProbe(): boolean;
  /** This breaker's counts or probes decided `to`. */
  protected abstract decide(to: typeof OPEN | typeof CLOSED): void;
  abstract dispose(): void;

  admit(): number {
    if (this.phase === CLOSED) return this.epoch;
    if (this.phase === OPEN || this.probesLeft === 0) return -1;
    if (--this.probesLeft === 0) { this.admitting = false; this.onChange(HALF_OPEN, HALF_OPEN); }
    return this.epoch;
  }

  record(ticket: number, failed: boolean, latencyMs: number): void {
    if (ticket !== this.epoch || this.disposed) return;
    const s = this.settings;
    const slow = s.slowMs > 0 && latencyMs >= s.slowMs;
    if (this.phase === HALF_OPEN) {
      if (!this.canProbe()) return;
      if (failed || slow) this.decide(OPEN);
      else if (++this.probesPassed >= s.probes) this.decide(CLOSED);
      return;
    }
    if (this.phase !== CLOSED) return;
    this.consecutive = failed ? this.consecutive + 1 : 0;
    if (this.tripsOpen(s, failed, slow)) this.decide(OPEN);
  }

  /** Closed: must this call open the breaker? Consecutive failures, then the window's ratios. */
  private tripsOpen(s: BreakerSettings, failed: boolean, slow: boolean): boolean {
    if (s.failures > 0 && this.consecutive >= s.failures) return true;
    const c = this.counts;
    if (c === undefined) return false;
    c.add(this.clock.now(), failed, slow);
    // A ratio only rises with a failed or slow call, or when the window reaches minRequests.
    if (c.total < s.minRequests || !(failed || slow || c.total === s.minRequests)) return false;
    return (s.errorRatio > 0 && c.failed >= s.errorRatio * c.total) || (s.slowMs > 0 && c.slow >= s.slowRatio * c.total);
  }

  release(ticket: number): void {
    if (ticket !== this.epoch || this.disposed || this.phase !== HALF_OPEN || !this.canProbe()) return;
    if (this.probesLeft++ === 0) { this.admitting = true; this.onChange(HALF_OPEN, HALF_OPEN); }
  }

  /** Start `phase` with fresh counts; `probes` slots are open when it is half-open and this breaker probes. */
  protected reset(phase: BreakerPhase, probes: number): void {
    this.phase = phase;
    this.epoch++;
    this.consecutive = 0;
    this.counts?.reset();
    this.probesPassed = 0;
    this.probesLeft = probes;
  }
}
