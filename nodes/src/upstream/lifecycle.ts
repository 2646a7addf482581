/**
 * Start and stop upstream runtimes as snapshots come and go. compileSnapshot reuses a
 * runtime whose config did not change, so one runtime can serve several snapshots in a
 * row: it is started when the first snapshot using it is applied and stopped when a
 * snapshot without it replaces the last one that had it. Identity, not name, decides: a
 * changed upstream is a new runtime (started) replacing the old one (stopped).
 */
import type { UpstreamRuntime } from './upstream.ts';

export function swapUpstreams(prev: Iterable<UpstreamRuntime> | undefined, next: Iterable<UpstreamRuntime>): void {
  const keep = new Set(next);
  // Stop first: a replaced runtime's timers end before its successor's begin (same targets, no doubled health checks).
  if (prev) for (const u of prev) if (!keep.has(u)) u.stop();
  for (const u of keep) u.start();
}
