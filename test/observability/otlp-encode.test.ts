/**
 * The hand-written OTLP encoder against protobufjs (test/fixtures/otlp, independent of the
 * gateway's code): attributes on the one-pass paths (short ASCII strings, small integers)
 * and on the general one (long, non-ASCII, large, negative, fractional, boolean), and ids
 * in either case of hex; the exporter's batches, sent from reused writers, to a real receiver.
 */
import test from 'ava';
import protobuf from 'protobufjs';
import { OtlpWriter, type EncodableSpan } from '../../nodes/src/telemetry/tracing/otlp-encode.ts';
import { BatchExporter, GatehouseTracerProvider } from '../../nodes/src/telemetry/tracing/sdk.ts';
import { startReceiver } from './otlp-receiver.ts';
import { waitFor } from '../helpers/wait.ts';

const PROTO = new URL('../fixtures/otlp/trace.proto', import.meta.url).pathname;

test('every attribute shape decodes to what was set', async (t) => {
  const root = await protobuf.load(PROTO);
  const Request = root.lookupType('otlp.ExportTraceServiceRequest');
  const attrs: unknown[] = [
    'http.request.method', 'GET',
    'url.path', `/${'p'.repeat(95)}`, // key + value just over the one-pass bound
    'url.query', 'a=1',
    'server.port', 8080,
    'http.response.status_code', 200,
    'small', 0,
    'edge.3bytes', 2097151,
    'big', 2097152,
    'huge', 2 ** 40,
    'negative', -5,
    'fraction', 1.5,
    'flag', true,
    'ünïcode.key', 'v',
    'k', 'wert-ä',
    'empty', '',
    'skipped', undefined,
  ];
  const span: EncodableSpan = {
    traceId: '4BF92F3577B34DA6A3CE929D0E0E4736', spanId: '00f067aa0ba902b7', parentSpanId: 'aaaaaaaaaaaaaaaa', traceState: 'k=v',
    sampledFlags: 0x301, name: 'GET items', kind: 2, startMs: 1_700_000_000_000.5, endMs: 1_700_000_000_002.25,
    attrs, events: [{ name: 'cache', timeMs: 1_700_000_000_001, attrs: ['gatehouse.cache.result', 'hit', 'n', 3] }], statusCode: 2, statusMessage: 'GW_X',
  };
  const w = new OtlpWriter(16); // small: the buffer grows mid-attribute
  const msg = Request.toObject(Request.decode(w.encode(['service.name', 'gh'], 'gatehouse', '1', [span])), { longs: String, bytes: Array }) as Record<string, any>;
  const s = msg.resourceSpans[0].scopeSpans[0].spans[0];
  t.is(Buffer.from(s.traceId).toString('hex'), '4bf92f3577b34da6a3ce929d0e0e4736');
  t.is(Buffer.from(s.spanId).toString('hex'), '00f067aa0ba902b7');
  t.is(Buffer.from(s.parentSpanId).toString('hex'), 'aaaaaaaaaaaaaaaa');
  t.is(s.startTimeUnixNano, '1700000000000500000');
  const got: Record<string, unknown> = {};
  for (const a of s.attributes) {
    const v = a.value;
    got[a.key] = v.stringValue ?? v.boolValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.doubleValue);
  }
  const want: Record<string, unknown> = {};
  for (let i = 0; i < attrs.length; i += 2) if (attrs[i + 1] !== undefined) want[attrs[i] as string] = attrs[i + 1];
  t.deepEqual(got, want);
  t.is(s.attributes.length, Object.keys(want).length);
  t.deepEqual(s.events[0].attributes.map((a: any) => [a.key, a.value.stringValue ?? Number(a.value.intValue)]), [['gatehouse.cache.result', 'hit'], ['n', 3]]);
  t.deepEqual(s.status, { code: 2, message: 'GW_X' });
});

test('exporter: batches sent one after another from reused writers arrive intact', async (t) => {
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  const exporter = new BatchExporter({ endpoint: rx.url, serviceName: 'reuse', batchSize: 5, maxQueue: 1000, intervalMs: 60_000 });
  t.teardown(() => exporter.shutdown());
  const tracer = new GatehouseTracerProvider(exporter, 1).getTracer('t');
  const names: string[] = [];
  for (let i = 0; i < 60; i++) {
    // Sizes vary, so a reused writer holds longer and shorter batches than it held before.
    const name = `span-${i}-${'x'.repeat((i * 37) % 300)}`;
    names.push(name);
    const span = tracer.startSpan(name, { attributes: { i, 'url.path': `/p/${'y'.repeat((i * 53) % 200)}` } });
    span.end();
    if (i % 7 === 0) await new Promise((r) => setImmediate(r)); // let exports run between spans
  }
  for (let i = 0; i < 30 && exporter.queued > 0; i++) await exporter.flush();
  await waitFor(() => rx.spans.length === 60, { message: 'all 60 spans' });
  t.deepEqual(rx.spans.map((s) => s.name), names);
  t.deepEqual(rx.spans.map((s) => s.attributes.i), names.map((_, i) => i));
  t.true(rx.spans.every((s) => s.resource['service.name'] === 'reuse'));
});
