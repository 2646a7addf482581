/**
 * The closed-state verdict shared by the local and cluster breakers: after one call, must
 * the breaker open? Consecutive failures first, then the error and slow-call ratios over
 * the rolling window (only once the window holds `minRequests` calls).
 */
import type { BreakerSettings } from './types.ts';
import type { RollingCounts } from './window.ts';

export function tripsOpen(s: BreakerSettings, counts: RollingCounts | undefined, consecutive: number, now: () => number, failed: boolean, slow: boolean): boolean {
  if (s.failures > 0 && consecutive >= s.failures) return true;
  if (counts === undefined) return false;
  counts.add(now(), failed, slow);
  // A ratio only rises with a failed or slow call, or when the window reaches minRequests.
  if (counts.total < s.minRequests || !(failed || slow || counts.total === s.minRequests)) return false;
  return (s.errorRatio > 0 && counts.failed >= s.errorRatio * counts.total) || (s.slowMs > 0 && counts.slow >= s.slowRatio * counts.total);
}
