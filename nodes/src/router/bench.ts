/**
 * Micro-benchmark of Router.match: ns per lookup for a 10-route and a 10,000-route table of
 * the same shape (exact, param and prefix paths; exact, wildcard and no host). Request paths
 * have the same length in both tables, so the difference is the table size alone.
 *
 *   node nodes/src/router/bench.ts
 *
 * Three request mixes per table: the same 10 hot routes (measures the algorithm: should be
 * flat), requests spread over every route (adds the cache misses of a big table's memory), and
 * misses that end on the '/*' fallback. Not a test: timings depend on the machine and on what
 * else runs on it, so compare the rows of one run rather than runs.
 */
import { Buffer } from 'node:buffer';
import type { IncomingHttpHeaders } from 'node:http';
import { Router } from './index.ts';
import type { RouteSpec } from './index.ts';

interface Req { host: string; path: string; method: string; headers: IncomingHttpHeaders }

const HEADERS: IncomingHttpHeaders = { 'user-agent': 'bench', accept: '*/*', 'x-tenant': 'acme' };

function svc(i: number): string {
  return `svc${String(i).padStart(5, '0')}`;
}

function tableOf(n: number): Router<number> {
  const entries: Array<{ spec: RouteSpec; value: number }> = [];
  for (let i = 0; i < n; i++) {
    const hosts = i % 4 === 0 ? [`api${i % 5}.example.com`] : i % 4 === 1 ? [`*.tenant${i % 5}.example.com`] : undefined;
    const path = i % 3 === 0 ? `/api/v1/${svc(i)}/items`
      : i % 3 === 1 ? `/api/v1/${svc(i)}/items/:id`
      : `/api/v1/${svc(i)}/static/*`;
    const spec: RouteSpec = { name: `r${i}`, priority: 0, paths: [path] };
    if (hosts) spec.hosts = hosts;
    if (i % 7 === 0) spec.methods = ['GET', 'HEAD'];
    if (i % 11 === 0) spec.headers = { 'x-tenant': 'acme' };
    entries.push({ spec, value: i });
  }
  entries.push({ spec: { name: 'fallback', priority: 0, paths: ['/*'] }, value: -1 });
  return new Router(entries);
}

/**
 * A request that hits route i of a table built by tableOf. Buffer round trip: a real request's
 * host and path arrive as flat strings decoded from bytes, not as the rope a template makes.
 */
function requestFor(i: number): Req {
  const host = i % 4 === 0 ? `api${i % 5}.example.com` : i % 4 === 1 ? `eu.tenant${i % 5}.example.com` : 'www.example.net';
  const path = i % 3 === 0 ? `/api/v1/${svc(i)}/items`
    : i % 3 === 1 ? `/api/v1/${svc(i)}/items/12345`
    : `/api/v1/${svc(i)}/static/css/site.css`;
  return { host: flat(host), path: flat(path), method: 'GET', headers: HEADERS };
}

function flat(s: string): string {
  return Buffer.from(s).toString();
}

/** 4096 requests over routes [0, spread) of the table, in a scrambled but repeatable order. */
function requests(spread: number): Req[] {
  return Array.from({ length: 4096 }, (_, k) => requestFor((Math.imul(k, 2654435761) >>> 0) % spread));
}

let sink = 0;

/** CPU time, not wall time: the machine may be shared, and waiting for a core is not our cost. */
function nsPerMatch(router: Router<number>, reqs: readonly Req[], iterations: number): number {
  const start = process.cpuUsage();
  for (let k = 0; k < iterations; k++) {
    const r = reqs[k & 4095]!;
    const m = router.match(r.host, r.path, r.method, r.headers);
    sink += m === undefined ? 0 : m.value;
  }
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / iterations;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const ITERATIONS = 1_000_000;
const ROUNDS = 9;
interface Case { routes: number; access: string; router: Router<number>; reqs: Req[]; ns: number[] }
const cases: Case[] = [];
const buildMs: string[] = [];
for (const n of [10, 10_000]) {
  const built = performance.now();
  const router = tableOf(n);
  buildMs.push(`${n} routes ${(performance.now() - built).toFixed(1)} ms`);
  const hits = requests(n);
  // Same 10 routes in both tables: isolates the algorithm from the memory a big table spans.
  cases.push({ routes: n, access: 'hot 10 routes', router, reqs: requests(10), ns: [] });
  cases.push({ routes: n, access: `all ${n} routes`, router, reqs: hits, ns: [] });
  const misses = hits.map((r) => ({ ...r, path: flat(r.path.replace('/api/v1/', '/other/v1/')) }));
  cases.push({ routes: n, access: 'fallback (/*)', router, reqs: misses, ns: [] });
}

// Interleaved rounds, so drift (JIT tiers, GC, neighbours) hits every case alike.
for (let round = 0; round < ROUNDS; round++) {
  for (const c of cases) c.ns.push(nsPerMatch(c.router, c.reqs, ITERATIONS));
}

console.table(cases.map((c) => ({ routes: c.routes, requests: c.access, 'ns/match (median)': Number(median(c.ns).toFixed(1)) })));
const half = cases.length / 2;
for (let i = 0; i < half; i++) {
  const small = cases[i]!;
  const large = cases[i + half]!;
  const change = (median(large.ns) / median(small.ns) - 1) * 100;
  console.log(`${large.access === small.access ? small.access : 'all routes'}: 10,000 vs 10 routes ${change >= 0 ? '+' : ''}${change.toFixed(1)}%`);
}
console.log(`build: ${buildMs.join(', ')}`);
if (sink === 0.5) console.log(sink); // keeps the results observable so no lookup is optimised away
