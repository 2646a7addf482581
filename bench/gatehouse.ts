/**
 * Gatehouse scenario configs (see nodes/src/schema/model.ts for the model). workers: 1
 * because every peer is a single process pinned to one core; a second worker would only
 * time-slice that core.
 */

// Local shapes instead of the model's Static types: the gateway is written concurrently and
// the bench should keep type-checking while the model evolves; the gateway validates at start.
export type GatewayConfig = Record<string, unknown>;
export interface Route { match: { hosts?: string[]; paths: string[] }; upstream: string; policies?: Record<string, unknown> }

export interface GatehousePorts { listen: number; status: number; upstreamUrl: string }

export function baseConfig(p: GatehousePorts, routes: Record<string, Route>): GatewayConfig {
  return {
    node: {
      listen: `127.0.0.1:${p.listen}`,
      status: `127.0.0.1:${p.status}`,
      workers: 1,
      log: { level: 'warn', access: { enabled: true, sample: 0.01 } },
    },
    upstreams: { up: { targets: [{ url: p.upstreamUrl }] } },
    routes,
  };
}

export function bareConfig(p: GatehousePorts): GatewayConfig {
  return baseConfig(p, { bare: { match: { paths: ['/*'] }, upstream: 'up' } });
}

/** N routes r0..r{N-1}; bench/wrk/routes.lua hits requests spread over them. */
export function manyRoutesConfig(p: GatehousePorts, n: number): GatewayConfig {
  const routes: Record<string, Route> = {};
  for (let i = 0; i < n; i++) {
    routes[`r${i}`] = {
      match: { hosts: [`h${i % 50}.example.com`], paths: [`/svc${i}/*`, `/svc${i}/items/:id`] },
      upstream: 'up',
    };
  }
  return baseConfig(p, routes);
}
