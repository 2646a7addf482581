/**
 * Unit-test helpers for the authentication policies: a RequestContext over a fake request,
 * and PolicyDeps over a config object. Not used at run time.
 */
import pino from 'pino';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RequestContext } from '../../request/context.ts';
import { TrustedProxies } from '../../http/client-ip.ts';
import type { PolicyDefinition, PolicyDeps, PolicyHandlers, HookResult } from '../../request/policy.ts';
import type { GatewayConfig } from '../../schema/model.ts';
import { compileSchema } from '../../schema/validate.ts';

const logger = pino({ level: 'silent' });
const trusted = new TrustedProxies([]);

export function fakeCtx(opts: { headers?: Record<string, string | string[]>; path?: string; query?: string; method?: string } = {}): RequestContext {
  const headers = Object.fromEntries(Object.entries(opts.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const rawHeaders = Object.entries(headers).flatMap(([k, v]) => (Array.isArray(v) ? v.flatMap((x) => [k, x]) : [k, v]));
  const req = { method: opts.method ?? 'GET', headers, rawHeaders, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage;
  return new RequestContext(req, {} as ServerResponse, 'test-id', 'localhost', opts.path ?? '/', opts.query ?? '', trusted);
}

export function deps(config: GatewayConfig, routeName = 'r'): PolicyDeps {
  return { routeName, config, logger, baseDir: process.cwd(), services: {}, upstreams: new Map(), metrics: {} as PolicyDeps['metrics'] };
}

/** Validate the policy config with its schema (as `gatehouse validate` does), then create(). */
export function make<C>(def: PolicyDefinition<C>, cfg: unknown, config: GatewayConfig = {}, routeName = 'r'): PolicyHandlers {
  const v = compileSchema(def.schema);
  if (!v(cfg)) throw new Error(`schema: ${JSON.stringify(v.errors)}`);
  return def.create(cfg as C, deps(config, routeName));
}

/** Run a request hook and await it when it is async. */
export async function run(h: PolicyHandlers, ctx: RequestContext): Promise<HookResult> {
  return await h.request!(ctx);
}

/** Whether the policy schema accepts a config. */
export function accepts(def: PolicyDefinition, cfg: unknown): boolean {
  return compileSchema(def.schema)(cfg) as boolean;
}
