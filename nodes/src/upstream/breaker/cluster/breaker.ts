/**
 * One target's breaker on one node, in a cluster. Counting is the LocalBreaker's (consecutive
 * failures, error and slow ratios over the window, tickets as epochs: ../README.md), done on
 * this node only, with no message per request. What changes is who decides a phase:
 *  - a decision this node's counts make (open, or a probe's verdict) goes to the store, which
 *    versions it, applies it to every breaker of the key on this node and publishes it;
 *  - a transition from another node arrives through the store as enter();
 *  - when the open period ends, the store says whether this node is the prober: in half-open
 *    only the prober admits its `probes` calls; elsewhere the breaker stays shut (half-open,
 *    `admitting` false) until the prober's verdict arrives.
 */
import { RollingCounts } from '../window.ts';
import { tripsOpen } from '../trip.ts';
import type { Clock } from '../local.ts';
import { CLOSED, HALF_OPEN, OPEN, type BreakerListener, type BreakerPhase, type BreakerSettings, type BreakerState } from '../types.ts';

/** The cluster's state of one key as this node knows it; shared by the key's breakers here. */
export interface KeyRecord {
  readonly key: string;
  readonly upstream: string;
  readonly target: string;
  phase: BreakerPhase;
  gen: number;
  origin: string;
  /** The node that probes in half-open. */
  owner: string;
  /** When phase is open: clock time the open period ends. */
  until: number;
  /** Clock time of the last change (a half-open that lasts too long is taken over). */
  since: number;
  readonly members: Set<ClusterBreaker>;
}

/** What a breaker asks of its store (ClusterBreakerStore). */
export interface BreakerHost {
  /** This node's counts or probes decided `to` (open or closed). */
  decide(b: ClusterBreaker, to: typeof OPEN | typeof CLOSED): void;
  /** b's open period ended. */
  openEnded(b: ClusterBreaker): void;
}

export class ClusterBreaker implements BreakerState {
  phase: BreakerPhase = CLOSED;
  admitting = true;
  /** In half-open: this node sends the probes. */
  prober = false;
  readonly rec: KeyRecord;
  readonly settings: BreakerSettings;
  private readonly host: BreakerHost;
  private readonly onChange: BreakerListener;
  private readonly clock: Clock;
  private readonly counts: RollingCounts | undefined;
  private epoch = 0;
  private consecutive = 0;
  private probesLeft = 0;
  private probesPassed = 0;
  private timer: unknown = undefined;
  private disposed = false;

  constructor(host: BreakerHost, rec: KeyRecord, settings: BreakerSettings, onChange: BreakerListener, clock: Clock) {
    this.host = host;
    this.rec = rec;
    this.settings = settings;
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
    const s = this.settings;
    const slow = s.slowMs > 0 && latencyMs >= s.slowMs;
    if (this.phase === HALF_OPEN) {
      if (!this.prober) return;
      if (failed || slow) this.host.decide(this, OPEN);
      else if (++this.probesPassed >= s.probes) this.host.decide(this, CLOSED);
      return;
    }
    if (this.phase !== CLOSED) return;
    this.consecutive = failed ? this.consecutive + 1 : 0;
    if (tripsOpen(s, this.counts, this.consecutive, this.now, failed, slow)) this.host.decide(this, OPEN);
  }

  private readonly now = (): number => this.clock.now();

  release(ticket: number): void {
    if (ticket !== this.epoch || this.disposed || this.phase !== HALF_OPEN || !this.prober) return;
    if (this.probesLeft++ === 0) { this.admitting = true; this.onChange(HALF_OPEN, HALF_OPEN); }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.clearTimer();
    this.rec.members.delete(this);
  }

  get isDisposed(): boolean { return this.disposed; }

  /**
   * Enter `phase` (the store calls this for every transition of the key, local or remote).
   * `openMs`: how long an open lasts from now. `prober`: in half-open, whether this node probes.
   * `notify` false only while create() has not returned (README rule 5).
   */
  enter(phase: BreakerPhase, openMs: number, prober: boolean, notify = true): void {
    if (this.disposed) return;
    const from = this.phase;
    const wasAdmitting = this.admitting;
    this.clearTimer();
    this.phase = phase;
    this.epoch++;
    this.consecutive = 0;
    this.counts?.reset();
    this.probesPassed = 0;
    this.prober = phase === HALF_OPEN && prober;
    this.probesLeft = this.prober ? this.settings.probes : 0;
    this.admitting = phase === CLOSED || this.prober;
    if (phase === OPEN) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        if (!this.disposed) this.host.openEnded(this);
      }, Math.max(0, openMs));
    }
    if (notify && (from !== phase || wasAdmitting !== this.admitting)) this.onChange(phase, from);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) { this.clock.clearTimeout(this.timer); this.timer = undefined; }
  }
}
