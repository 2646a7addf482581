/**
 * The cache's metrics. Counts are plain numbers in the store (a hit costs one array
 * increment, no label lookup) and are copied into prom-client at scrape time.
 *   gatehouse_cache_requests_total{route, result=hit|miss|stale|bypass|revalidated}
 *   gatehouse_cache_bytes, gatehouse_cache_entries, gatehouse_cache_evictions_total
 */
import client from 'prom-client';
import type { Metrics } from '../../telemetry/metrics.ts';
import { RESULTS, type CacheStore } from './store.ts';

export function registerCacheMetrics(m: Metrics, store: CacheStore): void {
  const reg = m.registry;
  if (reg.getSingleMetric('gatehouse_cache_requests_total') === undefined) {
    new client.Counter({
      name: 'gatehouse_cache_requests_total',
      help: 'Requests on routes with the cache policy, by route and result (hit, miss, stale, bypass, revalidated).',
      labelNames: ['route', 'result'],
      registers: [reg],
      collect() {
        this.reset();
        for (const [route, s] of store.stats) for (let i = 0; i < RESULTS.length; i++) if (s[i]! > 0) this.labels(route, RESULTS[i]!).inc(s[i]!);
      },
    });
  }
  if (reg.getSingleMetric('gatehouse_cache_evictions_total') === undefined) {
    new client.Counter({
      name: 'gatehouse_cache_evictions_total',
      help: 'Stored responses evicted to keep the cache within maxBytes.',
      registers: [reg],
      collect() {
        this.reset();
        if (store.evictions > 0) this.inc(store.evictions);
      },
    });
  }
  m.gauge('gatehouse_cache_bytes', 'Bytes held by the cache (bodies, headers and an estimate of bookkeeping).', [], function () { this.set(store.bytes); });
  m.gauge('gatehouse_cache_entries', 'Stored responses (variants count one each).', [], function () { this.set(store.entries); });
}
