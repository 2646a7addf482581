/**
 * Fallback load generator (only when wrk is missing), run as its own pinned process so it
 * never shares the runner's event loop. Prints one LoadResult JSON object on stdout.
 */
import { createRequire } from 'node:module';

// autocannon ships no types (and @types/autocannon is not a dependency): describe what we read.
interface AcResult { duration: number; requests: { total: number }; latency: { p50: number; p99: number }; errors: number; timeouts: number; non2xx: number }
const autocannon = createRequire(import.meta.url)('autocannon') as (o: object) => Promise<AcResult>;

interface Opts { url: string; connections: number; duration: string; headers?: Record<string, string>; requests?: unknown[] }

function seconds(d: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(d);
  if (!m) throw new Error(`bad duration ${d}`);
  const v = Number(m[1]);
  return m[2] === 'ms' ? v / 1000 : m[2] === 'm' ? v * 60 : v;
}

const o = JSON.parse(process.argv[2] ?? '{}') as Opts;
const r = await autocannon({
  url: o.url,
  connections: o.connections,
  duration: seconds(o.duration),
  headers: o.headers,
  requests: o.requests,
});
const total = r.requests.total;
process.stdout.write(JSON.stringify({
  rps: total / Math.max(r.duration, 0.001),
  p50Ms: r.latency.p50,
  p99Ms: r.latency.p99,
  requests: total,
  socketErrors: r.errors + r.timeouts,
  non2xx: r.non2xx,
}));
