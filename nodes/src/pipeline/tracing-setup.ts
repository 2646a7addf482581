/**
 * The one place the tracing SDK is wired (decision 0006): from `node.tracing`, a
 * GatehouseTracerProvider with its batching OTLP/HTTP exporter, the export counters on the
 * node's metrics, and the request-level RequestTracing that the data path calls. Without
 * `node.tracing` nothing is created and the data path only forwards `traceparent`.
 */
import { hostname } from 'node:os';
import type { Metrics } from '../telemetry/metrics.ts';
import { BatchExporter, GatehouseTracerProvider } from '../telemetry/tracing/sdk.ts';
import { RequestTracing } from '../request/tracing.ts';

export interface TracingSettings {
  endpoint: string;
  sampleRatio?: number;
  serviceName?: string;
}

export const TRACING_DEFAULTS = { sampleRatio: 0.01, serviceName: 'gatehouse' } as const;

export interface Tracing {
  readonly requests: RequestTracing;
  readonly exporter: BatchExporter;
  shutdown(): Promise<void>;
}

export function startTracing(s: TracingSettings | undefined, metrics: Metrics, nodeId?: string): Tracing | undefined {
  if (s === undefined || !s.endpoint) return undefined;
  const exported = metrics.counter('gatehouse_tracing_spans_exported_total', 'Spans the collector accepted.', []);
  const dropped = metrics.counter('gatehouse_tracing_spans_dropped_total', 'Spans dropped: queue full (collector slow or down) or the export failed.', ['reason']);
  const exporter = new BatchExporter({
    endpoint: s.endpoint,
    serviceName: s.serviceName ?? TRACING_DEFAULTS.serviceName,
    resource: ['service.instance.id', nodeId ?? `${hostname()}:${process.pid}`, 'host.name', hostname()],
    counters: {
      exported: (n) => exported.inc(n),
      dropped: (n, reason) => dropped.labels(reason).inc(n),
    },
  });
  metrics.gauge('gatehouse_tracing_queue_spans', 'Finished spans waiting for export.', [], function () { this.set(exporter.queued); });
  // Roots are sampled by RequestTracing before any span exists (its ratio is the one that
  // reloads); the provider records every root it is asked for and follows parents.
  const provider = new GatehouseTracerProvider(exporter, 1);
  const requests = new RequestTracing(provider.getTracer('gatehouse'), s.sampleRatio ?? TRACING_DEFAULTS.sampleRatio);
  return { requests, exporter, shutdown: () => provider.shutdown() };
}
