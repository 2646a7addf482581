/**
 * Per-request CPU of tracing, alone: `node nodes/src/pipeline/tracing.bench.ts`.
 * A sampled request's spans (server + one client span) made, ended, encoded and posted to a
 * local sink (in this process: its CPU is counted too); an unsampled request's decision and
 * traceparent. Prints CPU µs per request.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Metrics } from '../telemetry/metrics.ts';
import { startTracing } from './tracing-setup.ts';
import type { RequestContext } from '../request/context.ts';
import type { Target } from '../upstream/target.ts';

const sink = http.createServer((req, res) => { req.resume(); req.on('end', () => res.end()); });
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const endpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/traces`;

function fakeCtx(): RequestContext {
  return {
    req: { headers: { 'user-agent': 'wrk' }, socket: { localPort: 8080 }, httpVersion: '1.1' },
    method: 'GET', path: '/items/42', host: 'api.example.com', id: '0123456789abcdef0123456789abcdef', start: performance.now(),
    clientIp: '127.0.0.1', route: { name: 'items' }, status: 200, errorCode: undefined, consumer: undefined, responseHeaders: undefined, cacheResult: undefined,
  } as unknown as RequestContext;
}
const target = { hostHeader: '127.0.0.1:9000', origin: 'http://127.0.0.1:9000', breaker: undefined } as unknown as Target;

async function run(ratio: number, n: number): Promise<number> {
  const metrics = new Metrics();
  const t = startTracing({ endpoint, sampleRatio: ratio }, metrics)!;
  const rt = t.requests;
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const ctx = fakeCtx();
    const tr = rt.begin(ctx);
    if (tr !== undefined) {
      tr.startTry(ctx, 'up', target);
      tr.tryHead(200);
      tr.endTry();
      tr.end(ctx, performance.now());
    } else rt.unsampled(undefined, ctx.id);
    // Yield now and then so the posts (and the sink) really run, as between requests: often
    // enough that the queue (4096 spans) never fills, or dropped spans would skip their encoding.
    if (i % 64 === 0) await new Promise((r) => setImmediate(r)); // a full batch (512) posts itself
  }
  await t.exporter.flush();
  const c = process.cpuUsage(c0);
  const us = (c.user + c.system) / n;
  await t.shutdown();
  const dropped = /^gatehouse_tracing_spans_dropped_total\{[^}]*\} (\d+)/m.exec(await metrics.render());
  if (dropped !== null && dropped[1] !== '0') console.log(`  (${dropped[1]} spans dropped: this run undercounts)`);
  return us;
}

// Baseline: the loop with only the fake context.
const t0 = performance.now();
let keep = 0;
for (let i = 0; i < 200_000; i++) keep += fakeCtx().path.length;
const base = ((performance.now() - t0) * 1000) / 200_000;
for (const ratio of [0, 0.01, 1]) {
  await run(ratio, 20_000); // warm
  const us = await run(ratio, 100_000);
  console.log(`ratio ${ratio}: ${(us - base).toFixed(2)} µs per request (loop baseline ${base.toFixed(2)} µs, ${keep > 0 ? 'ok' : ''})`);
}
sink.close();
