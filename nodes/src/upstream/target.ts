/**
 * One upstream target (host:port) and its keep-alive pools. Pools are shared across
 * snapshots by origin (PoolRegistry) so a config reload keeps warm connections; a pool no
 * snapshot uses any more is closed after its in-flight requests finish.
 *
 * Two pools per target, each connecting only when used: `h1` (Gatehouse's own client on
 * Node's native parser, decision 0005) carries proxied requests; `pool` (undici) carries
 * the side traffic: health checks, cache revalidation, mirrored requests.
 */
import { Pool } from 'undici';
import { H1Pool } from './h1/pool.ts';
import type { BreakerState } from './breaker/types.ts';

export interface PoolOptions { connections: number; connectTimeout: number; headersTimeout: number; bodyTimeout: number; keepAliveTimeout: number; maxPending?: number; maxWait?: number }

export class Target {
  readonly url: string;
  readonly origin: string;
  /** Value for the Host header when the upstream's host is sent. */
  readonly hostHeader: string;
  readonly weight: number;
  readonly pool: Pool;
  /** The proxy path's pool. */
  readonly h1: H1Pool;
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

  constructor(url: string, weight: number, pools: PoolPair) {
    const u = new URL(url);
    this.url = url;
    this.origin = u.origin;
    this.hostHeader = u.host;
    this.weight = weight;
    this.pool = pools.pool;
    this.h1 = pools.h1;
  }

  /** Recompute `available` after health or breaker state changed. */
  refresh(): void {
    this.available = this.healthy && (this.breaker === undefined || this.breaker.admitting);
  }
}

export interface PoolPair { pool: Pool; h1: H1Pool }

export class PoolRegistry {
  private readonly pools = new Map<string, PoolPair>();

  get(origin: string, o: PoolOptions): PoolPair {
    const key = `${origin}|${o.connections}|${o.connectTimeout}|${o.headersTimeout}|${o.bodyTimeout}|${o.keepAliveTimeout}|${o.maxPending}|${o.maxWait}`;
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
      const h1 = new H1Pool(origin, o);
      e = { pool, h1 };
      this.pools.set(key, e);
    }
    return e;
  }

  /** Close every pool not in `inUse` (after their in-flight requests complete). */
  retain(inUse: ReadonlySet<Pool>): void {
    for (const [key, e] of this.pools) {
      if (!inUse.has(e.pool)) {
        this.pools.delete(key);
        e.pool.close().catch(() => undefined);
        void e.h1.close();
      }
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.flatMap((e) => [e.pool.close().catch(() => undefined), e.h1.close()]));
  }
}
