/**
 * Where policies find the counter stores: the gateway's shared `services` (one object per
 * Gateway, kept across config reloads, so counts survive a reload).
 *  - `services.counters`: the node's store. main.ts puts the workers store there under
 *    `--workers N`; otherwise the first policy that needs one creates a local store.
 *  - `services.clusterCounters`: the cluster-wide store for `scope: cluster` (NATS; added
 *    by the cluster work). Until one is registered, `scope: cluster` uses the node's store.
 */
import cluster from 'node:cluster';
import { LocalCounterStore } from './local/index.ts';
import { WorkerCounterStore } from './workers/index.ts';
import type { CounterStore } from './store.ts';

/** The part of the node's services (request/services.ts NodeServices) the counter stores live in. */
export interface CounterServices { counters?: CounterStore; clusterCounters?: CounterStore }

/** The store for this process: the workers store in a node:cluster worker, else a local one. */
export function defaultCounterStore(): CounterStore {
  return cluster.isWorker ? new WorkerCounterStore() : new LocalCounterStore();
}

export function nodeCounterStore(services: CounterServices): CounterStore {
  return (services.counters ??= new LocalCounterStore());
}

export function clusterCounterStore(services: CounterServices): CounterStore | undefined {
  return services.clusterCounters;
}
