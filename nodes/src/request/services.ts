/**
 * The node's shared services: one object per gateway, kept for its whole life (so counts,
 * breaker states and the cache survive config reloads), reaching policies as
 * `PolicyDeps.services` and upstreams through the compile. Each service is a typed
 * property: who puts it there and who reads it is below.
 *
 * The lower layers never see this type: each takes the part it reads as a structural type
 * (cluster/counters/services.ts, upstream/breaker/settings.ts), which this one satisfies.
 */
import type { CounterStore } from '../cluster/counters/store.ts';
import type { BreakerStore } from '../upstream/breaker/types.ts';
import type { StatusRoute } from '../telemetry/status.ts';
import type { StatusWriteGate } from '../telemetry/status-auth.ts';

export interface NodeServices {
  /** The node's rate-limit counters: the workers store under `--workers N` (main.ts), else made by the first rate-limit policy. */
  counters?: CounterStore;
  /** The cluster-wide counters for `rate-limit` with `scope: cluster` (app/shared.ts, over NATS). */
  clusterCounters?: CounterStore;
  /** The cluster breaker store for `circuitBreaker.scope: cluster` (app/shared.ts). */
  breakerStore?: BreakerStore;
  /** The status server's routes, by path: policies add endpoints (the cache's /cache/purge). Set by the gateway. */
  statusRoutes?: Map<string, StatusRoute>;
  /** Who may call the status server's write endpoints (node.purgeToken). Set by the gateway. */
  statusWriteGate?: StatusWriteGate;
  // `cache` (the node's CacheStore) is declared by policies/cache/services.ts, which owns the
  // type: the request model may not name a policy's (declaration merging, type only).
}
