/**
 * One upstream target (host:port) and its keep-alive pools. Pools are shared across
 * snapshots by origin (PoolRegistry) so a config reload keeps warm connections; a pool no
 * snapshot uses any more is closed after its in-flight requests finish.
 *
 * Two pools per target, each connecting only when used: `h1` carries proxied requests and
 * the cache's revalidation (HTTP/1.1 targets: Gatehouse's own client on Node's native
 * parser, or undici's Pool behind the same interface when the node runs with
 * `upstreamClient: undici`, decision 0005; h2c/h2 targets: h2/pool.ts); `pool` (undici)
 * carries the side traffic: health checks and mirrored requests. Revalidation must read a
 * 304 with a Content-Length, which undici refuses: under `upstreamClient: undici` such a
 * revalidation fails like an unreachable upstream (stale-if-error rules apply).
 */
import { Pool } from 'undici';
import { H1Pool } from './h1/pool.ts';
import { H2Pool } from './h2/pool.ts';
import { UndiciH1Pool } from './h1/undici.ts';
import type { UpstreamClient } from './client-choice.ts';
import type { BreakerState } from './breaker/types.ts';

export interface PoolOptions {
  connections: number; connectTimeout: number; headersTimeout: number; bodyTimeout: number; keepAliveTimeout: number;
  /** https:// and h2:// targets: extra trusted CAs (PEM) and the name checked in the certificate (upstream `tls`). */
  ca?: Buffer | undefined; servername?: string | undefined;
  /** Requests that may wait for a connection, and for how long (ms): the per-target queue. */
  maxPending?: number; maxWait?: number;
  /** h2c:// and h2:// targets: most sessions, streams per session before another opens, idle close of extra ones (ms). */
  h2Sessions?: number; h2StreamsPerSession?: number; h2IdleTimeout?: number;
}

/** scheme://host:port; URL.origin is 'null' for the h2c:// and h2:// schemes. */
export function originOf(url: string): string {
  const u = new URL(url);
  return u.protocol === 'h2c:' || u.protocol === 'h2:' ? `${u.protocol}//${u.host}` : u.origin;
}

export class Target {
  readonly url: string;
  readonly origin: string;
  /** Value for the Host header when the upstream's host is sent. */
  readonly hostHeader: string;
  readonly weight: number;
  readonly pool: Pool;
  /** The proxy path's pool: HTTP/1.1 (http, https) or HTTP/2 (h2c, h2), one dispatch interface. */
  readonly h1: ProxyPool;
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
    this.origin = originOf(url);
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

/** The pools the proxy path dispatches on: one interface (`dispatch`, the wait-queue counters, `close`). */
export type ProxyPool = H1Pool | UndiciH1Pool | H2Pool;

export interface PoolPair { pool: Pool; h1: ProxyPool }

export class PoolRegistry {
  private readonly pools = new Map<string, PoolPair>();
  /** Which HTTP/1.1 client proxied requests use (client-choice.ts); fixed for the registry's life. */
  readonly client: UpstreamClient;

  constructor(client: UpstreamClient = 'own') {
    this.client = client;
  }

  get(origin: string, o: PoolOptions): PoolPair {
    const key = `${origin}|${o.connections}|${o.connectTimeout}|${o.headersTimeout}|${o.bodyTimeout}|${o.keepAliveTimeout}|${o.maxPending}|${o.maxWait}|${o.h2Sessions}|${o.h2StreamsPerSession}|${o.h2IdleTimeout}|${o.servername ?? ''}|${o.ca?.toString('base64') ?? ''}`;
    let e = this.pools.get(key);
    if (!e) {
      const h2 = origin.startsWith('h2');
      // Side traffic (health checks of http targets, cache revalidation, mirrors) stays HTTP/1.1.
      const pool = new Pool(h2 ? origin.replace(/^h2c:/, 'http:').replace(/^h2:/, 'https:') : origin, {
        connections: o.connections,
        pipelining: 1,
        connectTimeout: o.connectTimeout,
        headersTimeout: o.headersTimeout,
        bodyTimeout: o.bodyTimeout,
        keepAliveTimeout: o.keepAliveTimeout,
        keepAliveMaxTimeout: Math.max(o.keepAliveTimeout, 60_000),
      });
      let h1: ProxyPool;
      if (h2) {
        h1 = new H2Pool(origin, { connectTimeout: o.connectTimeout, headersTimeout: o.headersTimeout, bodyTimeout: o.bodyTimeout, maxStreams: o.connections, ca: o.ca, servername: o.servername, ...(o.maxPending !== undefined ? { maxPending: o.maxPending } : {}), ...(o.maxWait !== undefined ? { maxWait: o.maxWait } : {}), ...(o.h2Sessions !== undefined ? { sessions: o.h2Sessions } : {}), ...(o.h2StreamsPerSession !== undefined ? { streamsPerSession: o.h2StreamsPerSession } : {}), ...(o.h2IdleTimeout !== undefined ? { idleTimeout: o.h2IdleTimeout } : {}) });
      } else {
        const ho = { connections: o.connections, connectTimeout: o.connectTimeout, headersTimeout: o.headersTimeout, bodyTimeout: o.bodyTimeout, keepAliveTimeout: o.keepAliveTimeout, ca: o.ca, ...(o.servername ? { servername: o.servername } : {}), ...(o.maxPending !== undefined ? { maxPending: o.maxPending } : {}), ...(o.maxWait !== undefined ? { maxWait: o.maxWait } : {}) };
        h1 = this.client === 'undici' ? new UndiciH1Pool(origin, ho) : new H1Pool(origin, ho);
      }
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
