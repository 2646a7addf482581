/**
 * Where the cache lives: one CacheStore per gateway, in the gateway's `services.cache`
 * (request/services.ts; the gateway keeps `services` for its whole life, so the store and its counts
 * survive config reloads). Each policy instance gets it from here, which also makes sure
 * the purge endpoint is on the status server (the gateway shares its `statusRoutes` map in
 * `services.statusRoutes`) and the cache's metrics are registered; both idempotent.
 *
 * A cluster bus reaches the same store with `cacheStore({ services, metrics })` (creating it
 * if no route uses the cache yet), applies other nodes' purges through its CachePurger
 * methods and subscribes to `onPurge` to broadcast this node's.
 */
import type { PolicyDeps } from '../../request/policy.ts';
import { CacheStore } from './store.ts';
import { purgeRoute, PURGE_PATH } from './purge.ts';
import { registerCacheMetrics } from './metrics.ts';

declare module '../../request/services.ts' {
  interface NodeServices {
    /** The node's one cache store: made by the first cache policy, or by the cluster bus (app/shared.ts). */
    cache?: CacheStore;
  }
}

export function cacheStore(deps: Pick<PolicyDeps, 'services' | 'metrics'>): CacheStore {
  const s = (deps.services.cache ??= new CacheStore());
  const routes = deps.services.statusRoutes;
  if (routes !== undefined && !routes.has(PURGE_PATH)) routes.set(PURGE_PATH, purgeRoute(s, deps.services));
  registerCacheMetrics(deps.metrics, s);
  return s;
}
