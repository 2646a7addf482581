/**
 * Shared shorthand for the router tests: routes default to priority 0 and carry their own
 * name as value, so an assertion can name the expected winner directly.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Router } from './index.ts';
import type { RouteSpec } from './index.ts';

export type TestRoute = Omit<RouteSpec, 'priority'> & { priority?: number };

export function table(routes: readonly TestRoute[]): Router<string> {
  return new Router(routes.map((r) => ({ spec: { priority: 0, ...r }, value: r.name })));
}

export interface Req {
  host?: string;
  method?: string;
  headers?: IncomingHttpHeaders;
}

/** Name of the winning route, or undefined. */
export function winner(router: Router<string>, path: string, req: Req = {}): string | undefined {
  return router.match(req.host ?? 'gw.test', path, req.method ?? 'GET', req.headers ?? {})?.value;
}

export function paramsOf(router: Router<string>, path: string, req: Req = {}): Record<string, string> | undefined {
  return router.match(req.host ?? 'gw.test', path, req.method ?? 'GET', req.headers ?? {})?.params;
}
