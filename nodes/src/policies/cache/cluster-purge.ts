/**
 * Cache purges for the whole cluster: a purge made through one node's status API
 * (POST /cache/purge, policies/cache/purge.ts) is published on the bus, and every other node
 * applies it to its own cache. Applying a received purge does not publish it again (only the
 * status route calls the store's onPurge listeners), so there are no echoes.
 * Best effort: a node that is cut off from the bus at that moment misses the purge (its
 * entries still expire with their TTL); the failure table in docs/cluster.md says so.
 */
import type { Logger } from 'pino';
import type { CachePurger, PurgeRequest } from './index.ts';
import { TOPICS, decodeJson, encodeJson, type ClusterBus } from '../../cluster/bus/types.ts';

/** What the cluster needs of the cache store: its purge methods and its purge listeners. */
export interface PurgeSource extends CachePurger {
  readonly onPurge: Set<(p: PurgeRequest) => void>;
}

function isPurge(v: unknown): v is PurgeRequest {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  if (typeof p.key === 'string') return p.prefix === undefined;
  return typeof p.prefix === 'string' && p.prefix.startsWith('/') && (p.host === undefined || typeof p.host === 'string');
}

/** Start sharing purges; returns the function that stops it. */
export function shareCachePurges(bus: ClusterBus, store: PurgeSource, logger?: Logger): () => void {
  const send = (p: PurgeRequest): void => {
    if (!bus.publish(TOPICS.cachePurge, encodeJson(p))) logger?.warn({ purge: p }, 'cache purge applied on this node only: NATS is not connected');
  };
  store.onPurge.add(send);
  const off = bus.subscribe(TOPICS.cachePurge, (data, from) => {
    const p = decodeJson(data);
    if (!isPurge(p)) return;
    const n = p.key !== undefined ? store.purgeKey(p.key) : store.purgePrefix(p.prefix!, p.host);
    logger?.debug({ from, purge: p, purged: n }, 'cache purge from the cluster');
  });
  return () => { store.onPurge.delete(send); off(); };
}
