/**
 * Tracing through a real gateway to a real OTLP/HTTP receiver (protobuf decoded by
 * protobufjs from the OTLP .proto, independent of the gateway's encoder) and real upstreams.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';
import { startReceiver, type DecodedSpan, type Receiver } from './otlp-receiver.ts';

const SERVER = 2;
const CLIENT = 3;
const digest = (k: string): string => `sha256:${createHash('sha256').update(k).digest('hex')}`;

let a: TestUpstream;
let b: TestUpstream;
let rx: Receiver;
let gw: TestGateway;

test.before(async () => {
  a = await startUpstream();
  b = await startUpstream();
  rx = await startReceiver();
  gw = await startGateway({
    node: { tracing: { endpoint: rx.url, sampleRatio: 1, serviceName: 'gh-test' } },
    upstreams: {
      one: { targets: [{ url: a.url }] },
      pair: { targets: [{ url: a.url }, { url: b.url }], retries: { attempts: 2, backoff: { base: '1ms', max: '2ms' }, on: [503] }, circuitBreaker: { failures: 100 } },
    },
    consumers: { alice: { keys: [digest('alice-key')] } },
    routes: {
      api: { match: { paths: ['/api/*'] }, upstream: 'one' },
      retry: { match: { paths: ['/retry'] }, upstream: 'pair' },
      keyed: { match: { paths: ['/keyed'] }, upstream: 'one', policies: { 'key-auth': {}, 'rate-limit': { limit: 100, window: '1m', by: 'ip' } } },
    },
  } as never);
});
test.after.always(async () => { await gw?.stop(); await a?.close(); await b?.close(); await rx?.close(); });
test.beforeEach(() => { for (const u of [a, b]) { u.received.length = 0; u.mode = { kind: 'ok' }; } });

const parse = (tp: unknown): { trace: string; parent: string; flags: string } => {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(String(tp));
  if (!m) throw new Error(`bad traceparent ${String(tp)}`);
  return { trace: m[1]!, parent: m[2]!, flags: m[3]! };
};
const spansOf = (trace: string): DecodedSpan[] => rx.spans.filter((s) => s.traceId === trace);

test.serial('a sampled request: the client trace continues, server span → client span → upstream', async (t) => {
  const clientTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const clientSpan = '00f067aa0ba902b7';
  const r = await http(`${gw.url}/api/users/42?secret=x`, { headers: { traceparent: `00-${clientTrace}-${clientSpan}-01`, tracestate: 'vendor=abc' } });
  t.is(r.status, 200);
  const spans: DecodedSpan[] = await waitFor(() => { const s = spansOf(clientTrace); return s.length >= 2 ? s : undefined; }, { timeout: 10_000, message: 'spans exported' });
  t.is(spans.length, 2);
  const server = spans.find((s) => s.kind === SERVER)!;
  const client = spans.find((s) => s.kind === CLIENT)!;
  t.is(server.name, 'GET api'); // method and route name, never the raw path
  t.is(server.parentSpanId, clientSpan);
  t.is(server.traceState, 'vendor=abc');
  t.is(server.attributes['http.request.method'], 'GET');
  t.is(server.attributes['url.path'], '/api/users/42');
  t.is(server.attributes['http.route'], 'api');
  t.is(server.attributes['http.response.status_code'], 200);
  t.is(server.attributes['network.protocol.version'], '1.1');
  t.is(server.resource['service.name'], 'gh-test');
  t.is(client.parentSpanId, server.spanId);
  t.is(client.attributes['server.address'], '127.0.0.1');
  t.is(client.attributes['http.response.status_code'], 200);
  t.true(client.startNs >= server.startNs && client.endNs <= server.endNs);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  t.true(server.startNs > nowNs - 60_000_000_000n && server.endNs <= nowNs + 1_000_000_000n, `timestamps in epoch ns (${server.startNs})`);
  // The upstream's traceparent: same trace, its parent is the client span.
  const up = parse(a.received[0]!.headers.traceparent);
  t.is(up.trace, clientTrace);
  t.is(up.parent, client.spanId);
  t.is(up.flags, '01');
  t.is(a.received[0]!.headers.tracestate, 'vendor=abc');
});

test.serial('one trace per request; a new trace without a client traceparent', async (t) => {
  const before = rx.spans.length;
  for (let i = 0; i < 3; i++) t.is((await http(`${gw.url}/api/n${i}`)).status, 200);
  const ups = a.received.map((r) => parse(r.headers.traceparent));
  t.is(new Set(ups.map((u) => u.trace)).size, 3);
  await waitFor(() => rx.spans.length - before >= 6, { timeout: 10_000 });
  for (const u of ups) {
    const s = spansOf(u.trace);
    t.is(s.filter((x) => x.kind === SERVER).length, 1);
    t.is(s.find((x) => x.kind === SERVER)!.parentSpanId, '');
  }
});

test.serial('an invalid traceparent is not continued: a new trace starts', async (t) => {
  for (const bad of ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra', 'garbage']) {
    a.received.length = 0;
    t.is((await http(`${gw.url}/api/bad`, { headers: { traceparent: bad } })).status, 200);
    const up = parse(a.received[0]!.headers.traceparent);
    t.false(bad.toLowerCase().includes(up.trace), bad);
    t.is(up.flags, '01'); // sampled: ratio 1 here
  }
  // Flags other than 01 with the sampled bit set (W3C: only bit 0 means sampled) are continued.
  a.received.length = 0;
  t.is((await http(`${gw.url}/api/flags`, { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4737-00f067aa0ba902b7-03' } })).status, 200);
  t.is(parse(a.received[0]!.headers.traceparent).trace, '4bf92f3577b34da6a3ce929d0e0e4737');
});

test.serial('retries are separate client spans; each try gets its own traceparent', async (t) => {
  a.mode = { kind: 'status', status: 503 };
  b.mode = { kind: 'status', status: 503 };
  const trace = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1';
  // Both targets refuse: 1 try + 2 retries, the last 503 goes to the client.
  const r = await http(`${gw.url}/retry`, { headers: { traceparent: `00-${trace}-bbbbbbbbbbbbbbbb-01` } });
  t.is(r.status, 503);
  const spans: DecodedSpan[] = await waitFor(() => { const s = spansOf(trace); return s.length >= 4 ? s : undefined; }, { timeout: 10_000 });
  const server = spans.find((s) => s.kind === SERVER)!;
  const clients = spans.filter((s) => s.kind === CLIENT).sort((x, y) => (x.startNs < y.startNs ? -1 : 1));
  t.is(clients.length, 3);
  for (const c of clients) {
    t.is(c.parentSpanId, server.spanId);
    t.is(c.attributes['http.response.status_code'], 503);
    t.is(c.status.code, 2);
    t.is(c.events.find((e) => e.name === 'breaker')?.attributes['gatehouse.breaker.state'], 'closed');
  }
  t.is(clients[0]!.attributes['http.request.resend_count'], undefined);
  t.is(clients[1]!.attributes['http.request.resend_count'], 1);
  t.is(clients[2]!.attributes['http.request.resend_count'], 2);
  const seen = [...a.received, ...b.received].map((x) => parse(x.headers.traceparent).parent).sort();
  t.deepEqual(seen, clients.map((c) => c.spanId).sort());
  t.is(server.status.code, 2); // a 5xx answer marks the server span as an error
  t.is(server.attributes['error.type'], '503');
});

test.serial('decisions are span events: auth result and rate-limit decision', async (t) => {
  const ok = '0000000000000000000000000000000c';
  const denied = '0000000000000000000000000000000d';
  t.is((await http(`${gw.url}/keyed`, { headers: { 'x-api-key': 'alice-key', traceparent: `00-${ok}-1111111111111111-01` } })).status, 200);
  t.is((await http(`${gw.url}/keyed`, { headers: { 'x-api-key': 'wrong', traceparent: `00-${denied}-1111111111111111-01` } })).status, 401);
  const s1 = await waitFor(() => spansOf(ok).find((s) => s.kind === SERVER), { timeout: 10_000 });
  const s2 = await waitFor(() => spansOf(denied).find((s) => s.kind === SERVER), { timeout: 10_000 });
  const ev = (s: DecodedSpan, n: string) => s.events.find((e) => e.name === n)?.attributes;
  t.is(ev(s1, 'auth')?.['gatehouse.auth.result'], 'authenticated');
  t.is(ev(s1, 'auth')?.['gatehouse.consumer'], 'alice');
  t.is(ev(s1, 'rate_limit')?.['gatehouse.rate_limit.decision'], 'allowed');
  t.is(ev(s2, 'auth')?.['gatehouse.auth.result'], 'unauthenticated');
  t.is(s2.status.code, 0); // a 4xx is the client's error, not the server span's
  t.is(s2.attributes['http.response.status_code'], 401);
});

test.serial('unsampled: no spans, the upstream still gets a traceparent (sampled flag kept clear)', async (t) => {
  const trace = 'cccccccccccccccccccccccccccccccc';
  t.is((await http(`${gw.url}/api/u`, { headers: { traceparent: `00-${trace}-dddddddddddddddd-00` } })).status, 200);
  const up = parse(a.received[0]!.headers.traceparent);
  t.is(up.trace, trace);
  t.is(up.flags, '00');
  t.not(up.parent, 'dddddddddddddddd');
  // Ratio 0 (a config reload): new traces are not recorded, a sampled parent still is.
  gw.gw.apply({ config: gw.gw.snapshot!.config, revision: 99, node: { tracing: { sampleRatio: 0 } } });
  t.teardown(() => { gw.gw.rt.tracing!.ratio = 1; });
  t.is(gw.gw.rt.tracing!.ratio, 0);
  t.is((await http(`${gw.url}/api/v`)).status, 200);
  const fresh = parse(a.received[1]!.headers.traceparent);
  t.is(fresh.flags, '00');
  const kept = 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee';
  t.is((await http(`${gw.url}/api/w`, { headers: { traceparent: `00-${kept}-dddddddddddddddd-01` } })).status, 200);
  await waitFor(() => spansOf(kept).length >= 2, { timeout: 10_000, message: 'the sampled parent is kept at ratio 0' });
  t.is(spansOf(trace).length, 0);
  t.is(spansOf(fresh.trace).length, 0);
});

/** Many requests with `concurrency` in flight; returns the statuses seen. */
async function load(url: string, n: number, concurrency: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      next++;
      const r = await http(url);
      out.set(r.status, (out.get(r.status) ?? 0) + 1);
    }
  }));
  return out;
}

async function metric(g: TestGateway, line: string): Promise<number> {
  const l = (await g.gw.metrics.render()).split('\n').find((x) => x.startsWith(`${line} `));
  return l ? Number(l.slice(l.lastIndexOf(' ') + 1)) : 0;
}

for (const mode of ['hang', 'down'] as const) {
  test(`a collector that is ${mode === 'hang' ? 'hanging' : 'down'} costs no request and the span queue stays bounded`, async (t) => {
    t.timeout(120_000); // thousands of requests: slow on a loaded machine
    const hung = await startReceiver();
    hung.mode = 'hang';
    t.teardown(() => hung.close());
    const endpoint = mode === 'hang' ? hung.url : `http://127.0.0.1:${await freePort()}/v1/traces`;
    const g = await startGateway({
      node: { tracing: { endpoint, sampleRatio: 1 } },
      upstreams: { one: { targets: [{ url: a.url }] } },
      routes: { api: { match: { paths: ['/api/*'] }, upstream: 'one' } },
    } as never);
    t.teardown(() => g.stop());
    const exporter = g.gw.tracing!.exporter;
    let maxQueued = 0;
    const probe = setInterval(() => { maxQueued = Math.max(maxQueued, exporter.queued); }, 5);
    t.teardown(() => clearInterval(probe));
    const heapBefore = process.memoryUsage().heapUsed;
    const began = Date.now();
    const statuses = await load(`${g.url}/api/x`, 2500, 32);
    clearInterval(probe);
    t.deepEqual([...statuses.entries()], [[200, 2500]]);
    t.true(maxQueued <= 4096, `queue peaked at ${maxQueued}`);
    // 5000 spans made (more than the queue holds); what did not fit, or whose export failed, is counted.
    const dropped = await waitFor(async () => (await metric(g, 'gatehouse_tracing_spans_dropped_total{reason="queue_full"}')) + (await metric(g, 'gatehouse_tracing_spans_dropped_total{reason="export_failed"}')), { timeout: 10_000 });
    t.true(dropped > 0);
    // One export at a time, each given up after 5 s: a hung collector sees few requests, not one per batch.
    if (mode === 'hang') t.true(hung.requests <= 2 + Math.ceil((Date.now() - began) / 5000), `one export at a time (${hung.requests})`);
    t.true(process.memoryUsage().heapUsed - heapBefore < 64 * 1024 * 1024);
  });
}
