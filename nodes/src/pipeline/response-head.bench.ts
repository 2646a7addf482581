/**
 * CPU per response head, alone: `node nodes/src/pipeline/response-head.bench.ts`.
 * Assembles the head of a typical proxied response (8 upstream fields, hop-by-hop ones
 * among them) 500k times for three routes: bare, with constant and per-request headers
 * (rate-limit's), with one response hook; prints ns per head (parsing the raw list included).
 */
import { assembleHead } from './response-head.ts';
import { forwardableResponseHeaders } from '../http/headers.ts';
import type { RequestContext } from '../request/context.ts';
import type { Runtime } from './runtime.ts';

const RAW = ['Content-Type', 'application/json', 'Content-Length', '42', 'Date', 'Sat, 05 Dec 2026 08:00:00 GMT', 'Connection', 'keep-alive',
  'Keep-Alive', 'timeout=5', 'ETag', '"abc"', 'Cache-Control', 'max-age=60', 'X-Request-Id', 'upstream-own'];
const rt = { draining: false } as Runtime;
const routes = {
  bare: { fixedHeaders: [], response: [] },
  headers: { fixedHeaders: ['ratelimit-policy', '"default";q=100;w=60'], response: [] },
  hook: { fixedHeaders: [], response: [(_c: unknown, h: { headers: Record<string, unknown> }) => { h.headers['x-t'] = '1'; }] },
};
const N = 500_000;
let sink = 0;
for (let round = 0; round < 3; round++) {
  const line: string[] = [];
  for (const [name, route] of Object.entries(routes)) {
    const ctx = { id: '0123456789abcdef0123456789abcdef', route, status: 0, responseHeaders: name === 'headers' ? { ratelimit: '"default";r=99;t=60' } : undefined } as unknown as RequestContext;
    const c0 = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      const h = assembleHead(rt, ctx, 200, forwardableResponseHeaders(RAW), false);
      sink += Array.isArray(h) ? h.length : 1;
    }
    const c = process.cpuUsage(c0);
    line.push(`${name} ${(((c.user + c.system) * 1000) / N).toFixed(0)} ns`);
  }
  console.log(`round ${round}: ${line.join(', ')}`);
}
if (sink === 0) console.log('');
