/**
 * The node's metrics. Hot per-request series live in RouteStatsTable (typed arrays);
 * everything else (reloads, rejected configs, policy decisions, process metrics) uses
 * prom-client, whose text is appended at scrape time. Policies register their own
 * metrics on `registry` through `metrics.counter()` / `metrics.gauge()`.
 */
import client from 'prom-client';
import { RouteStatsTable } from './route-stats.ts';
import { heapLiveBytes, watchHeapLive } from '../core/heap.ts';

export class Metrics {
  readonly registry = new client.Registry();
  readonly routes = new RouteStatsTable();
  readonly configReloads: client.Counter<'source' | 'result'>;
  readonly configRevision: client.Gauge;
  readonly policyDecisions: client.Counter<'route' | 'policy' | 'outcome'>;
  readonly inflight: client.Gauge;
  readonly upstreamErrors: client.Counter<'upstream' | 'code'>;
  /** Read at scrape time (set by the gateway). */
  inflightSource: () => number = () => 0;

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' }); // gatehouse_process_cpu_seconds_total, gatehouse_nodejs_*
    this.configReloads = new client.Counter({ name: 'gatehouse_config_reloads_total', help: 'Config loads by source and result (applied | rejected).', labelNames: ['source', 'result'], registers: [this.registry] });
    this.configRevision = new client.Gauge({ name: 'gatehouse_config_revision', help: 'Revision of the config this node serves.', registers: [this.registry] });
    this.policyDecisions = new client.Counter({ name: 'gatehouse_policy_decisions_total', help: 'Requests a policy stopped (deny) or would have stopped in shadow mode (shadow_deny).', labelNames: ['route', 'policy', 'outcome'], registers: [this.registry] });
    const read = (): number => this.inflightSource();
    this.inflight = new client.Gauge({ name: 'gatehouse_requests_inflight', help: 'Requests in flight on this process.', registers: [this.registry], collect() { this.set(read()); } });
    watchHeapLive();
    new client.Gauge({ name: 'gatehouse_nodejs_heap_live_bytes', help: 'Heap in use just after the last full GC: what the process retains (heap_size_used also counts garbage not yet collected). 0 until the first full GC.', registers: [this.registry], collect() { this.set(heapLiveBytes()); } });
    this.upstreamErrors = new client.Counter({ name: 'gatehouse_upstream_errors_total', help: 'Upstream calls that failed, by upstream and gateway code.', labelNames: ['upstream', 'code'], registers: [this.registry] });
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[]): client.Counter<L> {
    const existing = this.registry.getSingleMetric(name);
    return (existing as client.Counter<L>) ?? new client.Counter({ name, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[], collect?: (this: client.Gauge<L>) => void): client.Gauge<L> {
    const existing = this.registry.getSingleMetric(name);
    return (existing as client.Gauge<L>) ?? new client.Gauge({ name, help, labelNames, registers: [this.registry], ...(collect ? { collect } : {}) });
  }

  async render(): Promise<string> {
    return this.routes.render() + (await this.registry.metrics());
  }

  readonly contentType = client.Registry.PROMETHEUS_CONTENT_TYPE;
}
