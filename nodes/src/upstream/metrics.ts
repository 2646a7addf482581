/**
 * Upstream metrics, one set per node registry. Counters are bound to their labels once per
 * runtime (no label lookup per request); gauges are read at scrape time from the runtimes
 * that are started (`live`), so a retired upstream or a target discovery removed leaves no
 * stale series behind and a reload never races the values.
 */
import type { Counter } from 'prom-client';
import type { Metrics } from '../telemetry/metrics.ts';
import type { UpstreamRuntime } from './upstream.ts';

export class UpstreamMetrics {
  /** Runtimes used by the current snapshot (started, not yet stopped). */
  readonly live = new Set<UpstreamRuntime>();
  readonly retries: Counter<'upstream' | 'outcome'>;
  readonly transitions: Counter<'upstream' | 'target' | 'from' | 'to'>;

  constructor(m: Metrics) {
    const live = this.live;
    this.retries = m.counter('gatehouse_upstream_retries_total', 'Retries: retried (sent again) or budget_exhausted (retry wanted but the retry budget was spent).', ['upstream', 'outcome']);
    this.transitions = m.counter('gatehouse_upstream_breaker_transitions_total', 'Circuit breaker transitions per target.', ['upstream', 'target', 'from', 'to']);
    m.gauge('gatehouse_upstream_breaker_state', 'Circuit breaker state per target: 0 closed, 1 open, 2 half-open.', ['upstream', 'target'], function () {
      this.reset();
      for (const u of live) for (const t of u.targets) if (t.breaker) this.labels(u.name, t.url).set(t.breaker.phase);
    });
    // Wait queue (h1/pool.ts): read at scrape time from the pools, nothing per request.
    m.gauge('gatehouse_upstream_queue_pending', 'Requests waiting for a connection to the target (queue.maxPending bounds it).', ['upstream', 'target'], function () {
      this.reset();
      for (const u of live) for (const t of u.targets) this.labels(u.name, t.url).set(t.h1.pending);
    });
    m.gauge('gatehouse_upstream_queue_rejected', 'Requests the target\'s wait queue refused since its pool started: full (maxPending) or timeout (maxWait); each was a 503 GW_UPSTREAM_OVERLOADED.', ['upstream', 'target', 'reason'], function () {
      this.reset();
      for (const u of live) for (const t of u.targets) { this.labels(u.name, t.url, 'full').set(t.h1.queueFull); this.labels(u.name, t.url, 'timeout').set(t.h1.queueTimeouts); }
    });
    m.gauge('gatehouse_upstream_h2_sessions', 'HTTP/2 sessions open or connecting to an h2c:// or h2:// target (upstreams.<name>.http2.sessions bounds it).', ['upstream', 'target'], function () {
      this.reset();
      for (const u of live) for (const t of u.targets) if ('sessionCount' in t.h1) this.labels(u.name, t.url).set(t.h1.sessionCount);
    });
    m.gauge('gatehouse_upstream_target_healthy', 'Active health check verdict per target: 1 healthy, 0 out of rotation.', ['upstream', 'target'], function () {
      this.reset();
      for (const u of live) if (u.health) for (const t of u.targets) this.labels(u.name, t.url).set(t.healthy ? 1 : 0);
    });
  }
}

const byRegistry = new WeakMap<Metrics, UpstreamMetrics>();

export function upstreamMetrics(m: Metrics): UpstreamMetrics {
  let u = byRegistry.get(m);
  if (!u) { u = new UpstreamMetrics(m); byRegistry.set(m, u); }
  return u;
}
