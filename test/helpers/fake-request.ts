/**
 * A RequestContext over a fake request stream, for unit tests of policies: no server, no
 * socket. The body (if any) is written as the given chunks and ended, as Node's parser would.
 */
import { PassThrough } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino from 'pino';
import { RequestContext } from '../../nodes/src/request/context.ts';
import { TrustedProxies } from '../../nodes/src/http/client-ip.ts';
import type { PolicyDeps } from '../../nodes/src/request/policy.ts';

export interface FakeRequest {
  method?: string;
  path?: string;
  query?: string;
  headers?: Record<string, string | string[]>;
  /** Body chunks; omitted: no body. */
  body?: Array<string | Buffer> | string | Buffer;
  params?: Record<string, string>;
  remoteAddress?: string;
  trustedProxies?: string[];
}

export function fakeContext(r: FakeRequest = {}): RequestContext {
  const stream = new PassThrough();
  const req = stream as unknown as IncomingMessage & { complete: boolean };
  const headers: Record<string, string | string[]> = {};
  const rawHeaders: string[] = [];
  for (const [k, v] of Object.entries(r.headers ?? {})) {
    headers[k.toLowerCase()] = v;
    for (const one of Array.isArray(v) ? v : [v]) rawHeaders.push(k, one);
  }
  Object.assign(req, { method: r.method ?? 'GET', url: r.path ?? '/', headers, rawHeaders, complete: false, socket: { remoteAddress: r.remoteAddress ?? '127.0.0.1' } });
  stream.on('end', () => { req.complete = true; });
  const chunks = r.body === undefined ? [] : Array.isArray(r.body) ? r.body : [r.body];
  if (r.body !== undefined) queueMicrotask(() => { for (const c of chunks) stream.write(c); stream.end(); });
  else stream.end();
  const ctx = new RequestContext(req, {} as ServerResponse, 'test-id', 'example.test', r.path ?? '/', r.query ?? '', new TrustedProxies(r.trustedProxies ?? []));
  if (r.params) ctx.params = r.params;
  return ctx;
}

export function fakeDeps(over: Partial<PolicyDeps> = {}): PolicyDeps {
  return {
    routeName: 'r',
    config: {},
    logger: pino({ level: 'silent' }),
    baseDir: process.cwd(),
    services: {},
    upstreams: new Map(),
    metrics: {} as PolicyDeps['metrics'],
    ...over,
  };
}
