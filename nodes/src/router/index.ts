/**
 * The route table: which configured route handles a request, decided by host, path, method
 * and headers. Precedence when several match (details in rank.ts and README.md):
 * priority (higher first), then host exact > wildcard (longer suffix first) > none, then path
 * exact > params (more literal segments first) > prefix (longer prefix first), then routes
 * with methods > without, then more header conditions > fewer, then route name.
 */
export type { RouteMatch, RouteSpec } from './spec.ts';
export { Router } from './router.ts';
