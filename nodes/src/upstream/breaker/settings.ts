/**
 * `circuitBreaker` config → BreakerSettings, and the store that will hold the state. Runs at
 * config load; a value the schema cannot reject (a zero duration) throws here and the whole
 * config is refused, as every compile error is.
 */
import type { Logger } from 'pino';
import type { Upstream } from '../../schema/model.ts';
import { parseDuration } from '../../schema/duration.ts';
import type { BreakerSettings, BreakerStore } from './types.ts';
import { LocalBreakerStore } from './local.ts';

export type BreakerConfig = NonNullable<Upstream['circuitBreaker']>;

export function breakerSettings(c: BreakerConfig, where: string): BreakerSettings {
  const positive = (v: string | undefined, def: string, field: string): number => {
    const ms = parseDuration(v ?? def);
    if (ms <= 0) throw new Error(`${where}.${field}: must be more than 0`);
    return ms;
  };
  const anyTrigger = c.failures !== undefined || c.errorRatio !== undefined || c.slowCall !== undefined;
  return Object.freeze({
    failures: c.failures ?? (anyTrigger ? 0 : 5),
    windowMs: positive(c.window, '10s', 'window'),
    errorRatio: c.errorRatio ?? 0,
    minRequests: c.minRequests ?? 20,
    slowMs: c.slowCall ? positive(c.slowCall.threshold, '2s', 'slowCall.threshold') : 0,
    slowRatio: c.slowCall?.ratio ?? 0.5,
    openForMs: positive(c.openFor, '30s', 'openFor'),
    probes: c.probes ?? 1,
    scope: c.scope ?? 'local',
  });
}

/** The part of the node's services (request/services.ts NodeServices) the breaker store lives in. */
export interface BreakerServices { breakerStore?: BreakerStore }

const local = new LocalBreakerStore();
const warned = new WeakSet<object>();

/**
 * The store for a scope. `cluster` uses `services.breakerStore` when a cluster store was
 * registered there; until one exists it falls back to local and says so once per logger.
 */
export function breakerStore(scope: 'local' | 'cluster', services: BreakerServices, logger: Logger | undefined): BreakerStore {
  if (scope === 'local') return local;
  const shared = services.breakerStore;
  if (shared && shared.scope === 'cluster') return shared;
  if (logger && !warned.has(logger)) {
    warned.add(logger);
    logger.warn('circuitBreaker.scope cluster: no cluster breaker store on this node; breakers are local to each node');
  }
  return local;
}
