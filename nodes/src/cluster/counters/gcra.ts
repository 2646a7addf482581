/**
 * GCRA (the Generic Cell Rate Algorithm, ITU-T I.371; as in redis-cell and Stripe's
 * limiter) over a Map of key → TAT, the "theoretical arrival time": the moment the key's
 * quota will be whole again. One number per key, no refill timer, and exact Retry-After;
 * docs/decisions/0004-rate-limit-algorithm.md says why this over a token bucket.
 *
 * Admit at `now` with cost c:  tat = max(TAT, now); next = tat + c·T;  allow iff
 * next − now ≤ τ (τ = burst·T), then TAT = next. A denial changes nothing. A TAT in the
 * past means a full quota, exactly like a missing key: such keys are dropped freely.
 *
 * Memory stays bounded under a flood of distinct keys: Map order is kept as "least
 * recently used first" (delete + set on every decision), so
 *  - sweep() drops the expired prefix; since TAT ≤ last use + τ, every key is gone
 *    at most τ + one sweep interval after its last use, at O(dropped) cost;
 *  - at `maxKeys`, admitting a new key evicts the first one (the least recently used):
 *    that key restarts with a full quota. A client being refused keeps moving to the end,
 *    so a flood of new keys cannot reset it. Keys are never merged: nobody shares a bucket.
 */
import type { Decision, RateRule } from './store.ts';

/** Float slack (ms) so that `burst` requests at one instant all pass despite rounding in c·T sums. */
const EPS = 1e-6;

export class GcraTable {
  readonly interval: number;
  readonly tolerance: number;
  readonly maxKeys: number;
  evictedIdle = 0;
  evictedCap = 0;
  private readonly tat = new Map<string, number>();
  private cursor: MapIterator<[string, number]> | undefined = undefined;

  constructor(rule: Pick<RateRule, 'interval' | 'burst' | 'maxKeys'>) {
    if (!(rule.interval > 0) || !(rule.burst >= 1) || !(rule.maxKeys >= 1)) throw new Error('GCRA: interval > 0, burst >= 1 and maxKeys >= 1 are required');
    this.interval = rule.interval;
    this.tolerance = rule.burst * rule.interval;
    this.maxKeys = rule.maxKeys;
  }

  get size(): number { return this.tat.size; }

  acquire(key: string, cost: number, now: number, out: Decision): boolean {
    const m = this.tat;
    const prev = m.get(key);
    const T = this.interval;
    const tat = prev === undefined || prev < now ? now : prev;
    const ahead = tat - now + cost * T;
    if (ahead > this.tolerance + EPS) {
      out.allowed = false;
      out.retryAfterMs = ahead - this.tolerance;
      out.resetMs = tat - now;
      out.remaining = remaining(this.tolerance - (tat - now), T);
      // A refused key is busy: move it to the end too, so a flood of new keys evicts idle
      // keys before a client that is being limited right now (and would start over).
      if (prev !== undefined) { m.delete(key); m.set(key, prev); }
      return false;
    }
    if (prev === undefined) { if (m.size >= this.maxKeys) this.evictOldest(now); }
    else m.delete(key); // re-insert at the end: the Map stays in admission order
    m.set(key, now + ahead);
    out.allowed = true;
    out.retryAfterMs = 0;
    out.resetMs = ahead;
    out.remaining = remaining(this.tolerance - ahead, T);
    return true;
  }

  /** Units `key` could take at `now` (burst when it carries no state; may be fractional). */
  available(key: string, now: number): number {
    const tat = this.tat.get(key);
    const ahead = tat === undefined || tat < now ? 0 : tat - now;
    return (this.tolerance - ahead) / this.interval;
  }

  /** ms until `key`'s quota is whole again (0 when it carries no state). */
  resetIn(key: string, now: number): number {
    const tat = this.tat.get(key);
    return tat === undefined || tat < now ? 0 : tat - now;
  }

  refund(key: string, cost: number, now: number): void {
    const prev = this.tat.get(key);
    if (prev === undefined) return;
    const tat = prev - cost * this.interval;
    if (tat <= now) this.tat.delete(key);
    else this.tat.set(key, tat);
  }

  /**
   * Use reported by a peer (another worker or node): counted as if spent now. Counting it
   * late can only make this view stricter than the truth, never looser.
   */
  advance(key: string, units: number, now: number): void {
    if (units <= 0) { if (units < 0) this.refund(key, -units, now); return; }
    const m = this.tat;
    const prev = m.get(key);
    if (prev === undefined) { if (m.size >= this.maxKeys) this.evictOldest(now); }
    else m.delete(key);
    m.set(key, (prev === undefined || prev < now ? now : prev) + units * this.interval);
  }

  /** Drop the expired prefix (see the header comment for the bound). Returns how many went. */
  sweep(now: number): number {
    // Drop the cursor too: an old iterator may pin the Map's pre-rehash storage.
    this.cursor = undefined;
    let n = 0;
    for (const [k, tat] of this.tat) {
      if (tat > now) break;
      this.tat.delete(k);
      n++;
    }
    this.evictedIdle += n;
    return n;
  }

  /**
   * The first live entry is found through a cursor kept between calls, not a new iteration:
   * a Map iterates over the slots of deleted entries until it is rehashed, so starting from
   * the front each time would scan every key evicted so far (quadratic under a flood).
   * Every live entry is after the cursor: entries are only ever added at the end.
   */
  private evictOldest(now: number): void {
    let r = this.cursor?.next();
    if (!r || r.done) { this.cursor = this.tat.entries(); r = this.cursor.next(); }
    if (r.done) return;
    const [k, tat] = r.value;
    this.tat.delete(k);
    if (tat <= now) this.evictedIdle++;
    else this.evictedCap++;
  }
}

function remaining(room: number, T: number): number {
  const r = Math.floor(room / T + 1e-9);
  return r > 0 ? r : 0;
}
