/**
 * One upstream target (host:port) and its keep-alive pool. Pools are shared across
 * snapshots by origin (PoolRegistry) so a config reload keeps warm connections; a pool no
 * snapshot uses any more is closed after its in-flight requests finish.
 */
import { Pool } from 'undici';
import type { BreakerState } from './breaker/types.ts';

export interface PoolOptions { connections: number; connectTimeout: number; headersTimeout: number; bodyTimeout: number; keepAliveTimeout: number }

export class Target {
  readonly url: string;
  readonly origin: string;
  /** Value for the Host header when the upstream's host is sent. */
  readonly hostHeader: string;
  readonly weight: number;
  readonly pool: Pool;
  /** Requests in flight to this target (least-request balancing, breaker probes). */
  inflight = 0;
  /**
   * What balancers read: false while health checks or the breaker keep the target out of
   * rotation. Derived by refresh(); never set it directly.
   */
  available = true;
  /** Active health checks' verdict (health.ts); true without health checks. */
  healthy = true;
  /** This target's circuit breaker while its upstream runtime is started with one. */
  breaker: BreakerState | undefined = undefined;

  constructor(url: string, weight: number, pool: Pool) {
    const u = new URL(url);
    this.url = url;
    this.origin = u.origin;
    this.hostHeader = u.host;
    this.weight = weight;
    this.pool = pool;
  }

  /** Recompute `available` after health or breaker state changed. */
  refresh(): void {
    this.available = this.healthy && (this.breaker === undefined || this.breaker.admitting);
  }
}

export class PoolRegistry {
  private readonly pools = new Map<string, { pool: Pool; key: string }>();

  get(origin: string, o: PoolOptions): Pool {
    const key = `${origin}|${o.connections}|${o.connectTimeout}|${o.headersTimeout}|${o.bodyTimeout}|${o.keepAliveTimeout}`;
    let e = this.pools.get(key);
    if (!e) {
      const pool = new Pool(origin, {
        connections: o.connections,
        pipelining: 1,
        connectTimeout: o.connectTimeout,
        headersTimeout: o.headersTimeout,
        bodyTimeout: o.bodyTimeout,
        keepAliveTimeout: o.keepAliveTimeout,
        keepAliveMaxTimeout: Math.max(o.keepAliveTimeout, 60_000),
      });
      e = { pool, key };
      this.pools.set(key, e);
    }
    return e.pool;
  }

  /** Close every pool not in `inUse` (after their in-flight requests complete). */
  retain(inUse: ReadonlySet<Pool>): void {
    for (const [key, e] of this.pools) {
      if (!inUse.has(e.pool)) {
        this.pools.delete(key);
        e.pool.close().catch(() => undefined);
      }
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((e) => e.pool.close().catch(() => undefined)));
  }
}
