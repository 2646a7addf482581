/** What every admin API handler gets, and what it returns. */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { ConfigStore } from '../store/config-store.ts';
import { Problem } from './problem.ts';
import type { Identity } from './auth.ts';

export interface HandlerContext {
  store: ConfigStore;
  req: IncomingMessage;
  url: URL;
  requestId: string;
  log: Logger;
  /** Who presented the token (its name and role; never the token). */
  who: Identity;
  /** Reads and parses the body (JSON or YAML); throws a Problem on size or syntax. */
  body(): Promise<unknown>;
}

export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** A boolean query flag: absent = false; `?x`, `?x=true`, `?x=1` = true; `false` / `0` = false. */
export function flag(url: URL, name: string): boolean {
  const v = url.searchParams.get(name);
  if (v === null || v === 'false' || v === '0') return false;
  if (v === '' || v === 'true' || v === '1') return true;
  throw new Problem('GW_BAD_REQUEST', `query parameter ${name} must be true or false`);
}

/** A non-negative integer query parameter, or undefined. */
export function revisionParam(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null) return undefined;
  if (!/^[0-9]{1,15}$/.test(v)) throw new Problem('GW_BAD_REQUEST', `query parameter ${name} must be a revision number`);
  return Number(v);
}

/**
 * Refuses a write this token may not make (403): viewers never write; an admin token with a
 * prefix writes only routes and upstreams whose names start with it. Logged either way.
 */
export function requireWrite(ctx: HandlerContext, changes: ReadonlyArray<{ kind: string; name: string }>, op: string): void {
  const { who } = ctx;
  let why: string | undefined;
  if (who.role !== 'admin') why = `token ${who.name} has role ${who.role}: read only`;
  else if (who.prefix !== undefined) {
    const outside = changes.filter((c) => !((c.kind === 'routes' || c.kind === 'upstreams') && c.name.startsWith(who.prefix!)));
    if (outside.length) why = `token ${who.name} may change only routes and upstreams named ${who.prefix}*, not ${outside.map((c) => `${c.kind}/${c.name}`).join(', ')}`;
  }
  if (why === undefined) return;
  ctx.log.warn({ audit: true, who: who.name, role: who.role, op, requestId: ctx.requestId, denied: true }, `write refused: ${why}`);
  throw new Problem('GW_FORBIDDEN', why);
}
