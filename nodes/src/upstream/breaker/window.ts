/**
 * Call counts over a sliding window, kept as a ring of buckets (Hystrix's rolling window,
 * Resilience4j's time-based window): add() is a few integer updates, never an allocation,
 * and the sums are maintained as buckets roll out instead of being recomputed.
 * Precision is one bucket: a call leaves the window between windowMs - bucketMs and windowMs
 * after it was recorded.
 */
export class RollingCounts {
  total = 0;
  failed = 0;
  slow = 0;
  private readonly bucketMs: number;
  private readonly t: Int32Array;
  private readonly f: Int32Array;
  private readonly s: Int32Array;
  /** Absolute index (now / bucketMs) of the newest bucket. */
  private head = -1;

  constructor(windowMs: number, buckets = 10) {
    this.bucketMs = Math.max(1, windowMs / buckets);
    this.t = new Int32Array(buckets);
    this.f = new Int32Array(buckets);
    this.s = new Int32Array(buckets);
  }

  add(now: number, failed: boolean, slow: boolean): void {
    const b = Math.floor(now / this.bucketMs);
    if (b !== this.head) this.roll(b);
    const i = b % this.t.length;
    this.t[i]!++;
    this.total++;
    if (failed) { this.f[i]!++; this.failed++; }
    if (slow) { this.s[i]!++; this.slow++; }
  }

  /** Drop the buckets that fell out of the window by `now` (call before reading the sums). */
  advance(now: number): void {
    const b = Math.floor(now / this.bucketMs);
    if (b !== this.head) this.roll(b);
  }

  reset(): void {
    this.t.fill(0); this.f.fill(0); this.s.fill(0);
    this.total = this.failed = this.slow = 0;
  }

  private roll(b: number): void {
    const n = this.t.length;
    if (this.head < 0 || b - this.head >= n || b < this.head) {
      // First use, a gap longer than the window, or a clock that went back: start afresh.
      this.reset();
    } else {
      for (let k = this.head + 1; k <= b; k++) {
        const i = k % n;
        this.total -= this.t[i]!; this.failed -= this.f[i]!; this.slow -= this.s[i]!;
        this.t[i] = 0; this.f[i] = 0; this.s[i] = 0;
      }
    }
    this.head = b;
  }
}
