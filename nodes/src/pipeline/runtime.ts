/**
 * What the request handler reads: the current snapshot (swapped atomically by assignment;
 * a request keeps the snapshot it started with) and the node's static settings.
 */
import type { Logger } from 'pino';
import type { Snapshot } from '../request/route.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { TrustedProxies } from '../http/client-ip.ts';
import type { AccessLogger } from './access-log.ts';
import type { SendDeadlines } from '../http/send-deadline.ts';

export interface Runtime {
  snapshot: Snapshot | undefined;
  readonly trusted: TrustedProxies;
  readonly maxBodySize: number;
  /** Reuse a client's X-Request-Id from any peer (node.trustRequestId, default true) or only from trusted proxies. */
  readonly trustRequestId: boolean;
  /** Keep a raw ';' in the path as an ordinary character (node.paths.allowSemicolon, default false: 400). */
  readonly allowSemicolon: boolean;
  /** Response bytes held for a client that is behind before the upstream read pauses (node.limits.proxyBuffer). */
  readonly proxyBuffer: number;
  /** The write deadline on stalled client connections (node.limits.sendTimeout). */
  readonly sends: SendDeadlines;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly accessLog: AccessLogger;
  /** Set when node.tracing is configured (pipeline/tracing-setup.ts). */
  readonly tracing?: import('../request/tracing.ts').RequestTracing;
  draining: boolean;
  inflight: number;
}
