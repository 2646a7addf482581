/**
 * Node-level metrics for operators, read at scrape time (nothing on the request path), and
 * the cleanup that keeps `promtool check metrics` clean: prom-client's default
 * `*_active_{handles,requests,resources}_total` are gauges named like counters; their
 * un-suffixed twins (gatehouse_nodejs_active_handles, ...) stay.
 */
import client from 'prom-client';
import type { Metrics } from '../telemetry/metrics.ts';
import type { AccessLogger } from './access-log.ts';
import type { RequestTracing } from '../request/tracing.ts';

const MISNAMED = ['gatehouse_nodejs_active_handles_total', 'gatehouse_nodejs_active_requests_total', 'gatehouse_nodejs_active_resources_total'];

export function registerOperatorMetrics(m: Metrics, accessLog: AccessLogger, tracing: RequestTracing | undefined): void {
  for (const name of MISNAMED) m.registry.removeSingleMetric(name);
  let seen = 0;
  // The logger counts drops as a plain number; the counter catches up at scrape time.
  new client.Counter({
    name: 'gatehouse_access_log_dropped_lines_total',
    help: 'Access log lines dropped because the sink could not keep up.',
    registers: [m.registry],
    collect(this: client.Counter) {
      const now = accessLog.dropped;
      if (now > seen) { this.inc(now - seen); seen = now; }
    },
  });
  if (tracing !== undefined) {
    m.gauge('gatehouse_tracing_sample_ratio', 'Share of new traces recorded (node.tracing.sampleRatio, reloadable).', [], function () { this.set(tracing.ratio); });
  }
}
