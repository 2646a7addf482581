/**
 * Gatehouse's own small OpenTelemetry SDK (decision 0006): a TracerProvider implementing the
 * `@opentelemetry/api` interfaces, recording spans into plain objects, and a batching
 * OTLP/HTTP protobuf exporter with a bounded queue. Span-making code sees only the api
 * types; this file is wired once, at start (setup.ts).
 *
 * The queue never blocks a request: a finished span is pushed onto an array; when the array
 * holds `maxQueue` spans the span is dropped and counted. One export runs at a time, on a
 * timer or when a batch is full; an export that fails or hangs past `timeoutMs` is
 * abandoned (its spans counted as dropped), so memory stays bounded whatever the collector does.
 */
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import {
  trace, TraceFlags, SpanKind, SpanStatusCode, INVALID_SPAN_CONTEXT,
  type Attributes, type Context, type Exception, type Link, type Span, type SpanAttributeValue,
  type SpanContext, type SpanOptions, type SpanStatus, type TimeInput, type Tracer, type TracerProvider,
} from '@opentelemetry/api';
import { OtlpWriter, type EncodableEvent, type EncodableSpan, type Envelope } from './otlp-encode.ts';
import { randomHex } from '../../core/random-hex.ts';

const ORIGIN = performance.timeOrigin;

/** TimeInput → epoch ms. Numbers below the process's time origin are performance.now() values. */
export function epochMs(t: TimeInput | undefined): number {
  if (t === undefined) return ORIGIN + performance.now();
  if (typeof t === 'number') return t < ORIGIN ? ORIGIN + t : t;
  if (t instanceof Date) return t.getTime();
  return t[0] * 1000 + t[1] / 1e6;
}

const KIND = [1, 2, 3, 4, 5]; // api SpanKind (INTERNAL=0, SERVER=1, ...) → OTLP (INTERNAL=1, SERVER=2, ...)

export class RecordedSpan implements Span, EncodableSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly sampledFlags: number;
  name: string;
  readonly kind: number;
  readonly startMs: number;
  endMs = 0;
  readonly attrs: unknown[] = [];
  events: EncodableEvent[] | undefined = undefined;
  statusCode = 0;
  statusMessage = '';
  private readonly ctx: SpanContext;
  private readonly sink: SpanSink;

  constructor(sink: SpanSink, name: string, kind: SpanKind, sc: SpanContext, parent: SpanContext | undefined, startMs: number) {
    this.sink = sink;
    this.name = name;
    this.kind = KIND[kind] ?? 1;
    this.ctx = sc;
    this.traceId = sc.traceId;
    this.spanId = sc.spanId;
    this.parentSpanId = parent?.spanId ?? '';
    this.traceState = sc.traceState?.serialize() ?? '';
    this.sampledFlags = (sc.traceFlags & 0xff) | (parent === undefined ? 0 : parent.isRemote ? 0x300 : 0x100);
    this.startMs = startMs;
  }

  spanContext(): SpanContext { return this.ctx; }

  setAttribute(key: string, value: SpanAttributeValue): this {
    if (this.endMs === 0) this.attrs.push(key, value);
    return this;
  }

  setAttributes(attributes: Attributes): this {
    for (const k in attributes) this.setAttribute(k, attributes[k] as SpanAttributeValue);
    return this;
  }

  addEvent(name: string, attributesOrStartTime?: Attributes | TimeInput, startTime?: TimeInput): this {
    if (this.endMs !== 0) return this;
    let attrs: unknown[] | undefined;
    let time = startTime;
    if (attributesOrStartTime !== undefined) {
      if (typeof attributesOrStartTime === 'number' || Array.isArray(attributesOrStartTime) || attributesOrStartTime instanceof Date) time = attributesOrStartTime as TimeInput;
      else {
        attrs = [];
        const a = attributesOrStartTime as Attributes;
        for (const k in a) attrs.push(k, a[k]);
      }
    }
    (this.events ??= []).push({ name, timeMs: epochMs(time), attrs });
    return this;
  }

  addLink(_link: Link): this { return this; }
  addLinks(_links: Link[]): this { return this; }

  setStatus(status: SpanStatus): this {
    if (this.endMs !== 0 || this.statusCode === 1) return this; // Ok is final (spec)
    this.statusCode = status.code === SpanStatusCode.ERROR ? 2 : status.code === SpanStatusCode.OK ? 1 : 0;
    this.statusMessage = status.message ?? '';
    return this;
  }

  updateName(name: string): this { if (this.endMs === 0) this.name = name; return this; }

  end(endTime?: TimeInput): void {
    if (this.endMs !== 0) return;
    this.endMs = Math.max(epochMs(endTime), this.startMs);
    this.sink.push(this);
  }

  isRecording(): boolean { return this.endMs === 0; }

  recordException(exception: Exception, time?: TimeInput): void {
    const e = typeof exception === 'string' ? { message: exception, name: 'Error' } : exception as { message?: string; name?: string; code?: string | number };
    this.addEvent('exception', { 'exception.type': String(e.name ?? e.code ?? 'Error'), 'exception.message': String(e.message ?? '') }, time);
  }
}

export interface SpanSink { push(span: RecordedSpan): void }

/**
 * Parent-based sampling as the spec defines it: a span with a parent follows the parent's
 * sampled flag; a root span is kept with probability `ratio`. Gatehouse's request code
 * decides before it asks for a span (request.ts), so an unsampled request makes none; a
 * span asked for anyway and not sampled is a non-recording span carrying the context.
 */
class GatehouseTracer implements Tracer {
  private readonly provider: GatehouseTracerProvider;
  constructor(p: GatehouseTracerProvider) { this.provider = p; }

  startSpan(name: string, options?: SpanOptions, context?: Context): Span {
    const parent = options?.root || context === undefined ? undefined : trace.getSpanContext(context);
    const valid = parent !== undefined && parent.traceId !== INVALID_SPAN_CONTEXT.traceId;
    const sampled = valid ? (parent.traceFlags & TraceFlags.SAMPLED) !== 0 : Math.random() < this.provider.rootRatio;
    const sc: SpanContext = {
      traceId: valid ? parent.traceId : randomHex(16),
      spanId: randomHex(8),
      traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    };
    if (valid && parent.traceState !== undefined) sc.traceState = parent.traceState;
    if (!sampled) return trace.wrapSpanContext(sc);
    const span = new RecordedSpan(this.provider.queue, name, options?.kind ?? SpanKind.INTERNAL, sc, valid ? parent : undefined, epochMs(options?.startTime));
    if (options?.attributes) span.setAttributes(options.attributes);
    return span;
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, a?: SpanOptions | F, b?: Context | F, c?: F): ReturnType<F> {
    const fn = (typeof a === 'function' ? a : typeof b === 'function' ? b : c) as F;
    const opts = typeof a === 'object' ? a : undefined;
    const ctx = typeof b === 'object' ? b : undefined;
    return fn(this.startSpan(name, opts, ctx)) as ReturnType<F>;
  }
}

export interface ExportCounters {
  exported(n: number): void;
  dropped(n: number, reason: 'queue_full' | 'export_failed'): void;
}

export interface ExporterOptions {
  /** OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces. */
  endpoint: string;
  serviceName: string;
  /** Resource attributes besides service.name (flat [key, value, ...]). */
  resource?: readonly unknown[];
  maxQueue?: number;
  batchSize?: number;
  intervalMs?: number;
  timeoutMs?: number;
  counters?: ExportCounters;
}

/**
 * Bounded queue + batching OTLP/HTTP exporter. A span is encoded to protobuf when it ends
 * (appended to the open batch's bytes) and the span object is let go: nothing the queue
 * holds is on the JS heap for the garbage collector to copy and promote, and the bound is
 * on encoded spans. Full batches wait in `ready`; one export runs at a time. A batch's
 * writer is sent as it is (no copy) and, once answered, reused for a later batch: its
 * grown buffer is not allocated and faulted in again for every export.
 */
export class BatchExporter implements SpanSink {
  private open = new OtlpWriter();
  private openCount = 0;
  private readonly ready: Array<{ writer: OtlpWriter; count: number }> = [];
  /** Writers whose batch was exported, for reuse. */
  private readonly spare: OtlpWriter[] = [];
  private readyCount = 0;
  private readonly maxQueue: number;
  private readonly batchSize: number;
  private readonly timeoutMs: number;
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly envelope: Envelope;
  private readonly counters: ExportCounters | undefined;
  private readonly timer: NodeJS.Timeout;
  private inFlight = false;
  private scheduled = false;
  private stopped = false;

  constructor(o: ExporterOptions) {
    this.url = new URL(o.endpoint);
    this.maxQueue = o.maxQueue ?? 4096;
    this.batchSize = o.batchSize ?? 512;
    this.timeoutMs = o.timeoutMs ?? 5000;
    this.counters = o.counters;
    const resource = ['service.name', o.serviceName, 'telemetry.sdk.name', 'gatehouse', 'telemetry.sdk.language', 'nodejs', ...(o.resource ?? [])];
    this.envelope = OtlpWriter.envelope(resource, 'gatehouse', '1');
    const mod = this.url.protocol === 'https:' ? https : http;
    this.agent = new mod.Agent({ keepAlive: true, maxSockets: 1 });
    this.timer = setInterval(() => this.flush(), o.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Finished spans waiting for export (encoded). */
  get queued(): number { return this.openCount + this.readyCount; }

  push(span: RecordedSpan): void {
    if (this.openCount + this.readyCount >= this.maxQueue || this.stopped) { this.counters?.dropped(1, 'queue_full'); return; }
    this.open.appendSpan(span);
    if (++this.openCount < this.batchSize) return;
    this.seal();
    if (!this.inFlight && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => { this.scheduled = false; void this.flush(); });
    }
  }

  /** Close the open batch: its bytes move to `ready`. */
  private seal(): void {
    if (this.openCount === 0) return;
    this.ready.push({ writer: this.open, count: this.openCount });
    this.open = this.spare.pop() ?? new OtlpWriter();
    this.readyCount += this.openCount;
    this.openCount = 0;
  }

  /** Send the oldest batch (or what is open). Resolves when it is answered or given up. */
  flush(): Promise<void> {
    if (this.inFlight) return Promise.resolve();
    if (this.ready.length === 0) this.seal();
    const batch = this.ready.shift();
    if (batch === undefined) return Promise.resolve();
    this.readyCount -= batch.count;
    const parts = OtlpWriter.frameParts(this.envelope, batch.writer.view());
    let length = 0;
    for (const p of parts) length += p.length;
    this.inFlight = true;
    return new Promise<void>((resolve) => {
      let settled = false;
      // The writer is reused only once its bytes are all with the kernel ('finish') and the
      // export is over: a collector may answer before it has read the whole body. An export
      // abandoned mid-body leaves its writer to the garbage collector.
      let sent = false;
      const release = (): void => {
        batch.writer.reset();
        if (this.spare.length < 2) this.spare.push(batch.writer);
      };
      const done = (ok: boolean): void => {
        if (settled) return;
        settled = true;
        this.inFlight = false;
        if (sent) release();
        if (ok) this.counters?.exported(batch.count);
        else this.counters?.dropped(batch.count, 'export_failed');
        resolve();
        if (this.ready.length > 0 && !this.stopped) setImmediate(() => { void this.flush(); });
      };
      const req = (this.url.protocol === 'https:' ? https : http).request(this.url, {
        method: 'POST', agent: this.agent, timeout: this.timeoutMs,
        headers: { 'content-type': 'application/x-protobuf', 'content-length': length },
      }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode! >= 200 && res.statusCode! < 300));
        res.on('error', () => done(false));
      });
      req.on('timeout', () => req.destroy(new Error('export timed out')));
      req.on('error', () => done(false));
      req.on('finish', () => { sent = true; if (settled) release(); });
      for (let i = 0; i < parts.length - 1; i++) req.write(parts[i]);
      req.end(parts[parts.length - 1]);
    });
  }

  /** Send what is left (each batch bounded by `timeoutMs`), then stop. */
  async shutdown(): Promise<void> {
    clearInterval(this.timer);
    for (let i = 0; i < 8 && this.queued > 0; i++) {
      await this.flush();
      if (this.inFlight) break;
    }
    this.stopped = true;
    this.agent.destroy();
  }
}

export class GatehouseTracerProvider implements TracerProvider {
  readonly queue: BatchExporter;
  /** Sampling ratio of root spans (no parent). */
  rootRatio: number;
  private readonly tracer: GatehouseTracer;

  constructor(exporter: BatchExporter, rootRatio: number) {
    this.queue = exporter;
    this.rootRatio = rootRatio;
    this.tracer = new GatehouseTracer(this);
  }

  getTracer(_name: string, _version?: string): Tracer { return this.tracer; }

  shutdown(): Promise<void> { return this.queue.shutdown(); }
}
