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
import type { Clock } from '../local.ts';
import { CountingBreaker } from '../counting.ts';
import { CLOSED, HALF_OPEN, OPEN, type BreakerListener, type BreakerPhase, type BreakerSettings } from '../types.ts';

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

export class ClusterBreaker extends CountingBreaker {
  /** In half-open: this node sends the probes. */
  prober = false;
  readonly rec: KeyRecord;
  private readonly host: BreakerHost;
  private timer: unknown = undefined;

  constructor(host: BreakerHost, rec: KeyRecord, settings: BreakerSettings, onChange: BreakerListener, clock: Clock) {
    super(settings, onChange, clock);
    this.host = host;
    this.rec = rec;
  }

  protected canProbe(): boolean { return this.prober; }

  protected decide(to: typeof OPEN | typeof CLOSED): void { this.host.decide(this, to); }

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
    this.prober = phase === HALF_OPEN && prober;
    this.reset(phase, this.prober ? this.settings.probes : 0);
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
