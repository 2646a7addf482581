/**
 * The counter store: where rate-limit state lives (architecture principle 6: interfaces at
 * the boundaries, one folder per implementation). The per-request call is synchronous and
 * does no I/O in every implementation, including the shared ones: a store decides from its
 * own view of the count (this process's use + what peers reported), and exchanges use with
 * peers in batches off the request path. That is what keeps a cluster-wide limit at the
 * cost of a local one; the price is a bounded overshoot, written down per implementation
 * in docs/decisions/0004-rate-limit-algorithm.md.
 *
 * Implementations: local/ (one process), workers/ (one node of `--workers N` processes,
 * exchanging through the node:cluster primary). A NATS-backed cluster store plugs in with
 * the same interface: it is looked up as `services.clusterCounters` (see services.ts).
 */

/** One limit as the store needs it; built once at create(), never per request. */
export interface RateRule {
  /**
   * Identity of the count: every process and node that opens the same id shares one count,
   * and a config reload that keeps the id keeps the state. Derived from the route, the
   * limit's name and every parameter that changes its meaning.
   */
  readonly id: string;
  /** GCRA emission interval T in ms: window / limit, the quota one unit of cost uses. */
  readonly interval: number;
  /** Units that may be used at once; GCRA's tolerance is burst × interval. */
  readonly burst: number;
  /** Hard cap on keys held for this rule; at the cap the least recently admitted key goes. */
  readonly maxKeys: number;
}

/** Written by acquire() into an object the caller owns and reuses (nothing allocated per request). */
export interface Decision {
  allowed: boolean;
  /** Whole units still available right after this decision. */
  remaining: number;
  /** ms until the quota is whole again (after that the key carries no state). */
  resetMs: number;
  /** When denied: ms until `cost` units are available. 0 when allowed. */
  retryAfterMs: number;
}

export interface RateCounter {
  /**
   * Take `cost` units for `key` at time `now` (ms, performance.now() scale) if the rule
   * allows it. Synchronous, no I/O. A denied call changes nothing.
   */
  acquire(key: string, cost: number, now: number, out: Decision): boolean;
  /** Give back units a successful acquire took (a later limit of the same request said no). */
  refund(key: string, cost: number, now: number): void;
  /** Keys held right now (the metric `gatehouse_rate_limit_keys`). */
  readonly size: number;
  /** Keys dropped so far: `idle` ones carried no state any more, `cap` ones were still live. */
  readonly evictions: { readonly idle: number; readonly cap: number };
  /** This user of the rule is gone (snapshot retired); the state goes when the last one is. */
  close(): void;
}

export interface CounterStore {
  /** 'local' | 'workers' | 'cluster': shown in logs and docs. */
  readonly kind: string;
  /** At create() time: the counter for one rule. The same id returns the same state. */
  open(rule: RateRule): RateCounter;
}
