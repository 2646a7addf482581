/**
 * `GET /upstreams` on the status server: every upstream of the running snapshot with each
 * target's rotation state, so an operator sees why a target gets no traffic (health check,
 * breaker) without reading metrics. Registered by the gateway in its statusRoutes.
 */
import type { ServerResponse } from 'node:http';
import type { UpstreamRuntime } from './upstream.ts';
import { PHASE_NAMES } from './breaker/types.ts';
import { sendJson } from '../telemetry/status.ts';

export interface TargetStatus {
  url: string;
  weight: number;
  /** In rotation: what the balancers see. */
  available: boolean;
  /** `unchecked` without health checks. */
  health: 'healthy' | 'unhealthy' | 'unchecked';
  /** Consecutive health check passes / failures so far (with health checks). */
  checks?: { pass: number; fail: number };
  /** null without a circuit breaker. */
  breaker: 'closed' | 'open' | 'half-open' | null;
  inflight: number;
}

export interface UpstreamStatus {
  balance: string;
  retries: boolean;
  healthCheck: boolean;
  circuitBreaker: boolean;
  targets: TargetStatus[];
}

export function describeUpstream(u: UpstreamRuntime): UpstreamStatus {
  return {
    balance: u.config.balance ?? 'round-robin',
    retries: u.retry !== undefined,
    healthCheck: u.health !== undefined,
    circuitBreaker: u.breakerSettings !== undefined,
    targets: u.targets.map((t) => {
      const checks = u.health?.counts(t);
      return {
        url: t.url,
        weight: t.weight,
        available: t.available,
        health: u.health ? (t.healthy ? 'healthy' : 'unhealthy') : 'unchecked',
        ...(checks ? { checks } : {}),
        breaker: t.breaker ? PHASE_NAMES[t.breaker.phase] : null,
        inflight: t.inflight,
      };
    }),
  };
}

export function upstreamsStatus(res: ServerResponse, snap: { readonly revision: number; readonly upstreams: ReadonlyMap<string, UpstreamRuntime> } | undefined): void {
  const upstreams: Record<string, UpstreamStatus> = {};
  if (snap) for (const [name, u] of snap.upstreams) upstreams[name] = describeUpstream(u);
  sendJson(res, 200, { revision: snap?.revision ?? null, upstreams });
}
