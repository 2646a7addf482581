/**
 * Circuit breaker state, per upstream target, behind an interface so the state can live in
 * this process (LocalBreakerStore) or be shared by the cluster (a NATS store, later) with the
 * same synchronous per-request calls. See ./README.md for the contract an implementation
 * must keep; the data path (forward.ts) and UpstreamRuntime only ever use these types.
 *
 * The request path never waits on a store: admit() and record() answer from state already
 * in memory. A cluster store keeps that state current from messages in the background and
 * publishes its own transitions the same way.
 */

/** Gauge values of gatehouse_upstream_breaker_state. */
export const CLOSED = 0;
export const OPEN = 1;
export const HALF_OPEN = 2;
export type BreakerPhase = typeof CLOSED | typeof OPEN | typeof HALF_OPEN;

export const PHASE_NAMES = ['closed', 'open', 'half-open'] as const;

/** Compiled from `circuitBreaker` config (settings.ts); times in ms, 0 = trigger off. */
export interface BreakerSettings {
  /** Consecutive failures that open; 0 = off. */
  readonly failures: number;
  /** Sliding window of the ratio triggers. */
  readonly windowMs: number;
  /** Share of failed calls in the window that opens; 0 = off. */
  readonly errorRatio: number;
  /** Calls in the window before a ratio may open. */
  readonly minRequests: number;
  /** A call slower than this (to its response head) is slow; 0 = off. */
  readonly slowMs: number;
  /** Share of slow calls in the window that opens. */
  readonly slowRatio: number;
  readonly openForMs: number;
  /** Trial calls let through in half-open. */
  readonly probes: number;
  readonly scope: 'local' | 'cluster';
}

/** Which breaker: the same key on two nodes is the same logical breaker (cluster scope). */
export interface BreakerKey {
  readonly upstream: string;
  /** The target's URL as configured (scheme://host:port). */
  readonly target: string;
}

/**
 * Told whenever `phase` or `admitting` may have changed (from === to: only `admitting`).
 * Called synchronously from admit/record/release, from the store's timers, or (cluster) when
 * another node's transition arrives. Must be cheap and must not call back into the state.
 */
export type BreakerListener = (to: BreakerPhase, from: BreakerPhase) => void;

/** One target's breaker as the data path sees it. Every call is synchronous and O(1). */
export interface BreakerState {
  readonly phase: BreakerPhase;
  /**
   * May the balancer pick this target now: closed, or half-open with a probe slot left.
   * Mirrored into Target.available by the listener, so balancers skip the target otherwise.
   */
  readonly admitting: boolean;
  /**
   * Ask to send one call to the target. Returns a ticket (>= 0) to hand back to record() or
   * release(), or -1: refused (open, or half-open with every probe slot taken). In half-open a
   * granted ticket holds one probe slot until its verdict.
   */
  admit(): number;
  /**
   * The verdict of an admitted call: `failed` (transport error, timeout or 5xx) and the time
   * to its response head. A ticket from an earlier phase is ignored: a slow call admitted
   * before the breaker opened must not close it again.
   */
  record(ticket: number, failed: boolean, latencyMs: number): void;
  /** An admitted call ended without a verdict (client went away, request refused): frees its probe slot. */
  release(ticket: number): void;
  /** Stop timers and subscriptions; later calls are ignored. */
  dispose(): void;
}

/** Creates breaker states. Local: in memory. Cluster: shared over the bus (services.breakerStore). */
export interface BreakerStore {
  readonly scope: 'local' | 'cluster';
  create(key: BreakerKey, settings: BreakerSettings, onChange: BreakerListener): BreakerState;
}
