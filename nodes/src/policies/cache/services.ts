/**
 * Where the cache lives: one CacheStore per gateway, in the gateway's `services` under
 * `cache` (the gateway keeps `services` for its whole life, so the store and its counts
 * survive config reloads). Each policy instance gets it from here, which also makes sure
 * the purge endpoint is on the status server (the gateway shares its `statusRoutes` map in
 * services under `statusRoutes`) and the cache's metrics are registered; both idempotent.
 *
 * A cluster bus reaches the same store with `cacheStore({ services, metrics })` (creating it
 * if no route uses the cache yet), applies other nodes' purges through its CachePurger
 * methods and subscribes to `onPurge` to broadcast this node's.
 */
import type { PolicyDeps } from '../../request/policy.ts';
import type { StatusRoute } from '../../telemetry/status.ts';
import { CacheStore } from './store.ts';
import { purgeRoute, PURGE_PATH } from './purge.ts';
import { registerCacheMetrics } from './metrics.ts';

export const CACHE_SERVICE = 'cache';
/** The key under which the gateway shares its status routes with policies. */
export const STATUS_ROUTES = 'statusRoutes';

export function cacheStore(deps: Pick<PolicyDeps, 'services' | 'metrics'>): CacheStore {
  let store = deps.services[CACHE_SERVICE];
  if (!(store instanceof CacheStore)) {
    store = new CacheStore();
    deps.services[CACHE_SERVICE] = store;
  }
  const s = store as CacheStore;
  const routes = deps.services[STATUS_ROUTES];
  if (routes instanceof Map && !routes.has(PURGE_PATH)) (routes as Map<string, StatusRoute>).set(PURGE_PATH, purgeRoute(s, deps.services));
  registerCacheMetrics(deps.metrics, s);
  return s;
}
