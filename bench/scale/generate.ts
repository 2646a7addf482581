/**
 * Config generator for the scale benchmark and the 10k-route regression test:
 * N routes (10% key-auth + acl + rate-limit, 10% validate), C consumers with sha256 keys,
 * U upstreams whose targets do not exist (nothing connects to them while the table loads).
 * Deterministic: the same sizes give the same document, so runs compare.
 */
import { createHash } from 'node:crypto';

export interface ScaleSizes {
  routes: number;
  consumers: number;
  upstreams: number;
  /** Share of routes with key-auth + acl + rate-limit (default 0.1). */
  authShare?: number;
  /** Share of routes with validate (default 0.1). */
  validateShare?: number;
}

/** The API key of consumer i (what a client sends); the config holds only its digest. */
export function consumerKey(i: number): string {
  return `key-${i}-scale`;
}

export function digest(key: string): string {
  return `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

export function routeName(i: number): string {
  return `r${i}`;
}

export function routePath(i: number): string {
  return `/svc${i % 97}/r${i}`;
}

/** Every tenth route carries auth (when authShare is 0.1), every tenth plus five validate. */
function every(share: number): number {
  return share > 0 ? Math.max(1, Math.round(1 / share)) : 0;
}

export function scaleRoute(i: number, sizes: ScaleSizes): Record<string, unknown> {
  const authEvery = every(sizes.authShare ?? 0.1);
  const validateEvery = every(sizes.validateShare ?? 0.1);
  const r: Record<string, unknown> = {
    match: { paths: [routePath(i), `${routePath(i)}/:id`] },
    upstream: `u${i % Math.max(1, sizes.upstreams)}`,
  };
  const policies: Record<string, unknown> = {};
  if (authEvery && i % authEvery === 0) {
    policies['key-auth'] = {};
    policies.acl = { allow: [`g${i % 10}`, 'all'] };
    policies['rate-limit'] = { limit: 100, window: '1m', by: 'consumer' };
  }
  if (validateEvery && i % validateEvery === Math.floor(validateEvery / 2)) {
    policies.validate = { query: { type: 'object', properties: { page: { type: 'integer', minimum: 1 } } } };
  }
  if (Object.keys(policies).length) r.policies = policies;
  return r;
}

export function scaleConsumer(i: number): Record<string, unknown> {
  return { groups: [`g${i % 10}`, 'all'], keys: [digest(consumerKey(i))] };
}

/** The dynamic part of a config (no `node:`). */
export function scaleConfig(sizes: ScaleSizes): Record<string, unknown> {
  const upstreams: Record<string, unknown> = {};
  // Ports 1 and 2 on loopback refuse at once; nothing dials them unless a request is proxied.
  for (let u = 0; u < sizes.upstreams; u++) upstreams[`u${u}`] = { targets: [{ url: `http://127.0.0.1:${1 + (u % 2)}` }] };
  const consumers: Record<string, unknown> = {};
  for (let c = 0; c < sizes.consumers; c++) consumers[`c${c}`] = scaleConsumer(c);
  const routes: Record<string, unknown> = {};
  for (let i = 0; i < sizes.routes; i++) routes[routeName(i)] = scaleRoute(i, sizes);
  return { upstreams, consumers, routes };
}
