/** What every admin API handler gets, and what it returns. */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { ConfigStore } from '../store/config-store.ts';
import { Problem } from './problem.ts';

export interface HandlerContext {
  store: ConfigStore;
  req: IncomingMessage;
  url: URL;
  requestId: string;
  log: Logger;
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
