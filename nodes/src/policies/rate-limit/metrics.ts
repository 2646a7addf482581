/**
 * rate-limit metrics, one set per node registry:
 *  - gatehouse_rate_limited_total{route,outcome=limited|shadow_limited}
 *  - gatehouse_rate_limit_keys{route,limit}: keys held now
 *  - gatehouse_rate_limit_evictions_total{route,limit,reason=idle|cap}: `cap` means a key
 *    still in use was dropped because the table was full (raise maxKeys if it grows)
 * Keys and evictions are read from the counters at scrape time, so the request path only
 * pays for the `limited` counter, and only when it limits.
 */
import client, { type Counter, type Gauge } from 'prom-client';
import type { Metrics } from '../../telemetry/metrics.ts';
import type { RateCounter } from '../../cluster/counters/store.ts';

interface Registration { owner: object; route: string; limit: string; counter: RateCounter; idle: number; cap: number }

export class RateLimitMetrics {
  readonly limited: Counter<'route' | 'outcome'>;
  /** By rule id: a reload that keeps a rule replaces its registration (same counter, new owner). */
  private readonly regs = new Map<string, Registration>();

  constructor(m: Metrics) {
    this.limited = m.counter('gatehouse_rate_limited_total', 'Requests a rate limit refused (limited) or would have refused in shadow mode (shadow_limited).', ['route', 'outcome']);
    const regs = this.regs;
    m.gauge('gatehouse_rate_limit_keys', 'Keys held by a rate limit (bounded by maxKeys).', ['route', 'limit'], function (this: Gauge<'route' | 'limit'>) {
      this.reset();
      // inc, not set: during a reload an old and a new table may share labels, and both hold memory
      for (const r of regs.values()) this.inc({ route: r.route, limit: r.limit }, r.counter.size);
    });
    // Counters only go up: at scrape time, add what each table evicted since the last scrape.
    new client.Counter({
      name: 'gatehouse_rate_limit_evictions_total',
      help: 'Keys a rate limit dropped: idle (no state left) or cap (table full, state lost).',
      labelNames: ['route', 'limit', 'reason'],
      registers: [m.registry],
      collect(this: Counter<'route' | 'limit' | 'reason'>) {
        for (const r of regs.values()) {
          const e = r.counter.evictions;
          if (e.idle > r.idle) this.inc({ route: r.route, limit: r.limit, reason: 'idle' }, e.idle - r.idle);
          if (e.cap > r.cap) this.inc({ route: r.route, limit: r.limit, reason: 'cap' }, e.cap - r.cap);
          r.idle = e.idle;
          r.cap = e.cap;
        }
      },
    });
  }

  register(owner: object, id: string, route: string, limit: string, counter: RateCounter): void {
    const prev = this.regs.get(id);
    const e = counter.evictions;
    // Same rule over a reload = same table: keep the counts already reported.
    this.regs.set(id, { owner, route, limit, counter, idle: prev ? prev.idle : e.idle, cap: prev ? prev.cap : e.cap });
  }

  unregister(owner: object, id: string): void {
    if (this.regs.get(id)?.owner === owner) this.regs.delete(id);
  }
}

const perRegistry = new WeakMap<Metrics, RateLimitMetrics>();

export function rateLimitMetrics(m: Metrics): RateLimitMetrics {
  let r = perRegistry.get(m);
  if (!r) { r = new RateLimitMetrics(m); perRegistry.set(m, r); }
  return r;
}
