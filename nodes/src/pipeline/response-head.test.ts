import test from 'ava';
import { assembleHead } from './response-head.ts';
import type { RequestContext } from '../request/context.ts';
import type { Runtime } from './runtime.ts';

const ctx = (route: unknown, responseHeaders?: Record<string, string>): RequestContext =>
  ({ id: 'req-1', route, status: 0, responseHeaders } as unknown as RequestContext);
const draining = { draining: true } as Runtime;
const serving = { draining: false } as Runtime;

test('no hooks: a flat list in the documented order, the gateway\'s fields last', (t) => {
  const c = ctx({ fixedHeaders: ['ratelimit-policy', 'p'], response: [] }, { ratelimit: 'r' });
  const h = assembleHead(draining, c, 200, ['Content-Type', 'text/plain', 'RateLimit-Policy', 'upstream'], false);
  t.deepEqual(h, ['Content-Type', 'text/plain', 'ratelimit-policy', 'p', 'ratelimit', 'r', 'x-request-id', 'req-1', 'connection', 'close']);
  t.is(c.status, 200);
});

test('draining: a local reply that closes already gets one Connection field', (t) => {
  const h = assembleHead(draining, ctx({ fixedHeaders: [], response: [] }), 413, ['connection', 'close'], true) as string[];
  t.is(h.filter((n, i) => i % 2 === 0 && n === 'connection').length, 1);
});

test('hooks see the head before the gateway\'s fields, may set the status, cannot forge the id', (t) => {
  const seen: string[][] = [];
  const hook = (_c: unknown, head: { status: number; headers: Record<string, string | string[]> }): void => {
    seen.push(Object.keys(head.headers));
    head.headers['x-request-id'] = 'forged';
    head.headers['x-hooked'] = '1';
    head.status = 299;
  };
  const c = ctx({ fixedHeaders: ['ratelimit-policy', 'p'], response: [hook] });
  const h = assembleHead(serving, c, 200, ['etag', '"a"'], false);
  t.deepEqual(seen, [['etag', 'ratelimit-policy']]);
  t.deepEqual(Object.entries(h), [['etag', '"a"'], ['ratelimit-policy', 'p'], ['x-hooked', '1'], ['x-request-id', 'req-1']]);
  t.is(c.status, 299);
});

test('a reply before routing (no route): the request id only', (t) => {
  t.deepEqual(assembleHead(serving, ctx(undefined), 404, ['content-type', 'application/problem+json'], true), ['content-type', 'application/problem+json', 'x-request-id', 'req-1']);
});
