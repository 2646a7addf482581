/**
 * Micro-benchmark for normalizeTarget: `node nodes/src/http/normalize.bench.ts`.
 * Prints ns/call for a clean target (fast path) and messy ones (full parser), and the
 * WHATWG URL parser on the clean target as a yardstick for this machine.
 */
import { normalizeTarget } from './normalize.ts';

const targets: Record<string, string> = {
  clean: '/api/v1/users/12345/orders?limit=20&offset=40',
  'clean, no query': '/api/v1/users/12345/orders',
  'clean, dotted file': '/static/app.v2.min.js',
  messy: '//api/./v1/%75sers/../users/%7E12345;x=1/%E2%82%AC/orders/?limit=20',
  'bad path': '/api/%2e%2e/%2e%2e/etc/passwd',
};

const N = 2_000_000;
let sink = 0;

function run(t: string, n: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const r = normalizeTarget(t, true);
    sink += 'path' in r ? r.path.length : 1;
  }
  return Number(process.hrtime.bigint() - start) / n;
}

for (const [name, t] of Object.entries(targets)) {
  run(t, N / 4); // warm up
  const best = Math.min(run(t, N), run(t, N), run(t, N));
  console.log(`${name.padEnd(20)} ${best.toFixed(1).padStart(7)} ns/call  ${t}`);
}
{
  const t = targets.clean!;
  const url = (n: number): number => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink += new URL(t, 'http://x').pathname.length;
    return Number(process.hrtime.bigint() - start) / n;
  };
  url(N / 8);
  console.log(`${'(new URL, clean)'.padEnd(20)} ${Math.min(url(N / 4), url(N / 4)).toFixed(1).padStart(7)} ns/call`);
}
if (sink === 0) console.log('');
