/**
 * Retry budget (Envoy's retry_budget): retries in flight may be at most `percent` of the
 * requests active on the upstream, but `minConcurrent` are always allowed. A per-request
 * attempt limit alone lets retries multiply an outage (every client request becomes
 * attempts + 1 upstream calls exactly when the upstream is weakest); the budget caps the
 * extra load at a share of the real load. Active = client requests in flight to this
 * upstream, each counted once however many tries it makes.
 */
export class RetryBudget {
  readonly percent: number;
  readonly minConcurrent: number;
  /** Client requests in flight to the upstream. */
  active = 0;
  /** Retries granted and not yet answered (including their backoff wait). */
  inflight = 0;

  constructor(percent = 20, minConcurrent = 3) {
    this.percent = percent;
    this.minConcurrent = minConcurrent;
  }

  /** Take a slot for one retry; false when the budget is spent. */
  tryAcquire(): boolean {
    const n = this.inflight;
    if (n < this.minConcurrent || n * 100 < this.percent * this.active) {
      this.inflight = n + 1;
      return true;
    }
    return false;
  }

  release(): void {
    if (this.inflight > 0) this.inflight--;
  }
}
