/**
 * The Node engine of loadtest/run.ts: runs k6 options (scenarios with their executors,
 * stages and arrival rates; thresholds) with undici when k6 itself is not installed, and
 * reports like k6: the same metric names (http_reqs, http_req_duration, http_req_failed,
 * checks, iterations, dropped_iterations, vus, vus_max), the same threshold syntax, a
 * k6-style summary. What differs from k6 is said in loadtest/README.md.
 *
 * A VU here is one request in flight on its own keep-alive connection: arrival-rate
 * executors start iterations on a clock (open model) and drop one when maxVUs are all busy,
 * as k6 does; VU executors loop that many requests back to back.
 */
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import type { Options, Scenario, Threshold } from 'k6/options';

// ---------------------------------------------------------------------------------------------
// durations and thresholds

/** k6 durations: "1h2m3s", "500ms", "1.5s", or a number of ms. */
export function parseDuration(v: string | number | undefined, fallbackMs: number): number {
  if (v === undefined) return fallbackMs;
  if (typeof v === 'number') return v;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(v))) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    end = re.lastIndex;
  }
  if (end !== v.length || v.length === 0) throw new Error(`"${v}": not a duration (like 30s, 1m30s, 500ms)`);
  return total;
}

export interface ParsedThreshold {
  metric: string;
  /** Tag filter of a sub-metric (`http_req_duration{scenario:load}`). */
  tags: Record<string, string>;
  source: string;
  agg: string;
  op: string;
  value: number;
  abortOnFail: boolean;
  delayAbortEvalMs: number;
}

const THRESHOLD = /^\s*(avg|min|max|med|count|rate|value|p\(\d+(?:\.\d+)?\))\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/;

export function parseThresholds(all: Options['thresholds']): ParsedThreshold[] {
  const out: ParsedThreshold[] = [];
  for (const [key, list] of Object.entries(all ?? {})) {
    const km = /^([a-z_][a-z0-9_]*)(?:\{(.*)\})?$/i.exec(key);
    if (!km) throw new Error(`threshold metric "${key}": not a metric name`);
    const tags: Record<string, string> = {};
    for (const kv of (km[2] ?? '').split(',').filter(Boolean)) {
      const i = kv.indexOf(':');
      if (i < 0) throw new Error(`threshold metric "${key}": tag "${kv}" is not name:value`);
      tags[kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
    }
    for (const t of list as Threshold[]) {
      const source = typeof t === 'string' ? t : t.threshold;
      const m = THRESHOLD.exec(source);
      if (!m) throw new Error(`threshold "${key}: ${source}": not "aggregation operator number" (like p(99)<200, rate<0.01)`);
      out.push({
        metric: km[1]!, tags, source, agg: m[1]!, op: m[2]!, value: Number(m[3]),
        abortOnFail: typeof t === 'object' && !!t.abortOnFail,
        delayAbortEvalMs: typeof t === 'object' ? parseDuration(t.delayAbortEval, 0) : 0,
      });
    }
  }
  return out;
}

export function compare(actual: number, op: string, value: number): boolean {
  switch (op) {
    case '<': return actual < value;
    case '<=': return actual <= value;
    case '>': return actual > value;
    case '>=': return actual >= value;
    case '==': case '===': return actual === value;
    default: return actual !== value;
  }
}

// ---------------------------------------------------------------------------------------------
// metrics

/** Samples of one scenario. */
class ScenarioMetrics {
  durations: number[] = [];
  /** Durations of responses with an expected status (200-399), k6's expected_response:true. */
  expectedDurations: number[] = [];
  reqs = 0;
  failed = 0;
  iterations = 0;
  dropped = 0;
  checks = new Map<string, { pass: number; fail: number }>();
  bytes = 0;
}

export type MetricKind = 'trend' | 'rate' | 'counter' | 'gauge';
export const METRIC_KINDS: Record<string, MetricKind> = {
  http_req_duration: 'trend', iteration_duration: 'trend',
  http_req_failed: 'rate', checks: 'rate',
  http_reqs: 'counter', iterations: 'counter', dropped_iterations: 'counter', data_received: 'counter',
  vus: 'gauge', vus_max: 'gauge',
};

/** Nearest-rank percentile of sorted values. */
function pct(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface MetricValue { kind: MetricKind; values: Record<string, number> }

export class Metrics {
  readonly scenarios = new Map<string, ScenarioMetrics>();
  vus = 0;
  vusPeak = 0;
  vusMax = 0;
  startedAt = performance.now();
  endedAt = 0;

  of(name: string): ScenarioMetrics {
    let s = this.scenarios.get(name);
    if (!s) this.scenarios.set(name, (s = new ScenarioMetrics()));
    return s;
  }

  elapsedS(): number { return ((this.endedAt || performance.now()) - this.startedAt) / 1000; }

  /** A metric's aggregates over the scenarios the tags select (all when none). */
  value(metric: string, tags: Record<string, string> = {}): MetricValue | undefined {
    const kind = METRIC_KINDS[metric];
    if (!kind) return undefined;
    const ss = [...this.scenarios.entries()].filter(([n]) => tags.scenario === undefined || tags.scenario === n).map(([, s]) => s);
    const sum = (f: (s: ScenarioMetrics) => number): number => ss.reduce((a, s) => a + f(s), 0);
    const t = this.elapsedS() || 1;
    switch (metric) {
      case 'http_req_duration': case 'iteration_duration': {
        const xs = ss.flatMap((s) => (tags.expected_response === 'true' ? s.expectedDurations : s.durations)).sort((a, b) => a - b);
        const values: Record<string, number> = {
          avg: xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0,
          min: xs[0] ?? 0, max: xs[xs.length - 1] ?? 0, med: pct(xs, 50), count: xs.length,
        };
        return { kind, values: new Proxy(values, { get: (o, k: string) => o[k] ?? (/^p\((.+)\)$/.test(k) ? pct(xs, Number(k.slice(2, -1))) : undefined) }) };
      }
      case 'http_req_failed': {
        const n = sum((s) => s.reqs);
        const f = sum((s) => s.failed);
        return { kind, values: { rate: n ? f / n : 0, passes: f, fails: n - f } };
      }
      case 'checks': {
        let pass = 0;
        let fail = 0;
        for (const s of ss) for (const c of s.checks.values()) { pass += c.pass; fail += c.fail; }
        return { kind, values: { rate: pass + fail ? pass / (pass + fail) : 0, passes: pass, fails: fail } };
      }
      case 'http_reqs': { const c = sum((s) => s.reqs); return { kind, values: { count: c, rate: c / t } }; }
      case 'iterations': { const c = sum((s) => s.iterations); return { kind, values: { count: c, rate: c / t } }; }
      case 'dropped_iterations': { const c = sum((s) => s.dropped); return { kind, values: { count: c, rate: c / t } }; }
      case 'data_received': { const c = sum((s) => s.bytes); return { kind, values: { count: c, rate: c / t } }; }
      case 'vus': return { kind, values: { value: this.vus, min: 0, max: this.vusPeak } };
      default: return { kind, values: { value: this.vusMax, min: this.vusMax, max: this.vusMax } };
    }
  }
}

export interface ThresholdResult extends ParsedThreshold { ok: boolean; actual: number }

export function evaluate(metrics: Metrics, thresholds: ParsedThreshold[]): ThresholdResult[] {
  return thresholds.map((th) => {
    const v = metrics.value(th.metric, th.tags);
    if (!v) throw new Error(`threshold on "${th.metric}": the Node engine has no such metric (it has ${Object.keys(METRIC_KINDS).join(', ')})`);
    const actual = v.values[th.agg];
    if (actual === undefined) throw new Error(`threshold "${th.metric}: ${th.source}": "${th.agg}" does not apply to a ${v.kind} metric`);
    return { ...th, actual, ok: compare(actual, th.op, th.value) };
  });
}

// ---------------------------------------------------------------------------------------------
// executors

/** What one iteration does (loadtest/requests.js): the URL and the checks. */
export interface Iteration {
  url: string;
  checks: Record<string, (r: { status: number; headers: Record<string, string> }) => boolean>;
}

type Stage = { duration: string; target: number };

const SUPPORTED = new Set(['constant-arrival-rate', 'ramping-arrival-rate', 'constant-vus', 'ramping-vus']);

/** How long a scenario's schedule runs (without gracefulStop), in ms. */
export function scheduleMs(s: Scenario): number {
  if ('stages' in s && s.stages) return (s.stages as Stage[]).reduce((a, st) => a + parseDuration(st.duration, 0), 0);
  if ('duration' in s) return parseDuration(s.duration, 0);
  return 0;
}

/**
 * Iterations an arrival-rate executor should have started `t` ms into its schedule: the
 * integral of its rate (linear within each stage, as k6 ramps).
 */
export function arrivalsBy(s: Scenario, t: number): number {
  const unit = parseDuration('timeUnit' in s ? s.timeUnit : undefined, 1000);
  if (s.executor === 'constant-arrival-rate') return (s.rate / unit) * Math.min(t, parseDuration(s.duration, 0));
  if (s.executor !== 'ramping-arrival-rate') return 0;
  let from = s.startRate ?? 0;
  let at = 0;
  let n = 0;
  for (const st of s.stages as Stage[]) {
    const d = parseDuration(st.duration, 0);
    const span = Math.min(Math.max(t - at, 0), d);
    if (span > 0) {
      const rateAtEnd = d ? from + ((st.target - from) * span) / d : st.target;
      n += (((from + rateAtEnd) / 2) * span) / unit;
    }
    at += d;
    from = st.target;
    if (t <= at) break;
  }
  return n;
}

/** VUs a VU executor wants `t` ms into its schedule. */
export function vusAt(s: Scenario, t: number): number {
  if (s.executor === 'constant-vus') return t < parseDuration(s.duration, 0) ? (s.vus ?? 1) : 0;
  if (s.executor !== 'ramping-vus') return 0;
  let from = s.startVUs ?? 1;
  let at = 0;
  for (const st of s.stages as Stage[]) {
    const d = parseDuration(st.duration, 0);
    if (t < at + d) return Math.round(from + ((st.target - from) * (t - at)) / d);
    at += d;
    from = st.target;
  }
  return 0;
}

function canonical(name: string): string {
  return name.split('-').map((w) => (w ? w[0]!.toUpperCase() + w.slice(1).toLowerCase() : w)).join('-');
}

export interface RunResult { metrics: Metrics; thresholds: ThresholdResult[]; aborted: string | undefined }

export interface RunHooks {
  /** Called about once a second with the metrics so far. */
  progress?(m: Metrics, elapsedMs: number, totalMs: number): void;
}

/** Run every scenario of `options` (each at its startTime) with `it`, then evaluate the thresholds. */
export async function run(options: Options, it: Iteration, hooks: RunHooks = {}): Promise<RunResult> {
  const scenarios = Object.entries(options.scenarios ?? {});
  if (!scenarios.length) throw new Error('options.scenarios is empty: the Node engine runs scenarios only');
  for (const [name, s] of scenarios) {
    if (!SUPPORTED.has(s.executor)) throw new Error(`scenario ${name}: executor "${s.executor}" is not supported by the Node engine (it runs ${[...SUPPORTED].join(', ')}); run it with k6`);
  }
  const thresholds = parseThresholds(options.thresholds);
  const metrics = new Metrics();
  const maxOf = (s: Scenario): number => {
    switch (s.executor) {
      case 'constant-arrival-rate': case 'ramping-arrival-rate': return s.maxVUs ?? s.preAllocatedVUs;
      case 'ramping-vus': return Math.max(s.startVUs ?? 1, ...s.stages.map((x) => x.target));
      default: return s.vus ?? 1;
    }
  };
  metrics.vusMax = scenarios.reduce((a, [, s]) => a + maxOf(s), 0);
  evaluate(metrics, thresholds); // a threshold on a metric or aggregation we lack fails now, not after the run
  const agent = new Agent({ connections: Math.max(1, metrics.vusMax), keepAliveTimeout: 10_000, pipelining: 1 });
  const stopAll = new AbortController();
  let aborted: string | undefined;

  const once = async (sm: ScenarioMetrics, signal: AbortSignal): Promise<void> => {
    metrics.vus++;
    if (metrics.vus > metrics.vusPeak) metrics.vusPeak = metrics.vus;
    const t0 = performance.now();
    let status = 0;
    const headers: Record<string, string> = {};
    try {
      const res = await request(it.url, { dispatcher: agent, signal, headersTimeout: 60_000, bodyTimeout: 60_000, headers: { 'user-agent': 'gatehouse-loadtest (node engine)' } });
      status = res.statusCode;
      for (const [k, v] of Object.entries(res.headers)) headers[canonical(k)] = Array.isArray(v) ? v.join(', ') : (v ?? '');
      for await (const chunk of res.body) sm.bytes += (chunk as Buffer).length;
    } catch {
      // k6: a request that got no response counts as failed, with status 0 (as set above)
    }
    const ms = performance.now() - t0;
    metrics.vus--;
    if (signal.aborted && status === 0) return; // cut off by gracefulStop or an abort: interrupted (k6), not a sample
    sm.reqs++;
    sm.iterations++;
    sm.durations.push(ms);
    const expected = status >= 200 && status < 400;
    if (expected) sm.expectedDurations.push(ms);
    else sm.failed++;
    for (const [name, fn] of Object.entries(it.checks)) {
      let c = sm.checks.get(name);
      if (!c) sm.checks.set(name, (c = { pass: 0, fail: 0 }));
      if (fn({ status, headers })) c.pass++;
      else c.fail++;
    }
  };

  const runScenario = async (name: string, s: Scenario): Promise<void> => {
    const sm = metrics.of(name);
    const delay = parseDuration(s.startTime, 0);
    if (delay) await sleep(delay, stopAll.signal);
    const total = scheduleMs(s);
    const grace = parseDuration(s.gracefulStop, 30_000);
    const inflight = new Set<Promise<void>>();
    const cut = new AbortController();
    const onStop = (): void => cut.abort();
    stopAll.signal.addEventListener('abort', onStop);
    const start = performance.now();
    const track = (p: Promise<void>): void => { inflight.add(p); void p.finally(() => inflight.delete(p)); };
    if (s.executor === 'constant-arrival-rate' || s.executor === 'ramping-arrival-rate') {
      const maxVUs = maxOf(s);
      let started = 0;
      while (!stopAll.signal.aborted) {
        const t = performance.now() - start;
        const due = Math.floor(arrivalsBy(s, Math.min(t, total)));
        for (; started < due; started++) {
          if (inflight.size >= maxVUs) sm.dropped++;
          else track(once(sm, cut.signal));
        }
        if (t >= total) break;
        await sleep(2, stopAll.signal);
      }
    } else {
      // VU executors: loops that each send requests back to back while the schedule wants them.
      const running = new Set<number>();
      let want = 0;
      const loop = async (i: number): Promise<void> => {
        running.add(i);
        while (!cut.signal.aborted && i < want && performance.now() - start < total) await once(sm, cut.signal);
        running.delete(i);
      };
      while (!stopAll.signal.aborted) {
        const t = performance.now() - start;
        if (t >= total) break;
        want = vusAt(s, t);
        for (let i = 0; i < want; i++) if (!running.has(i)) track(loop(i));
        await sleep(50, stopAll.signal);
      }
      want = 0;
    }
    // gracefulStop: what is in flight may finish within it, then it is cut off.
    const timer = setTimeout(() => cut.abort(), grace);
    await Promise.all(inflight);
    clearTimeout(timer);
    stopAll.signal.removeEventListener('abort', onStop);
  };

  const totalMs = Math.max(...scenarios.map(([, s]) => parseDuration(s.startTime, 0) + scheduleMs(s)));
  const ticker = setInterval(() => {
    const elapsed = performance.now() - metrics.startedAt;
    hooks.progress?.(metrics, elapsed, totalMs);
    for (const r of evaluate(metrics, thresholds.filter((x) => x.abortOnFail && elapsed >= x.delayAbortEvalMs))) {
      if (!r.ok && !aborted) {
        aborted = `threshold ${r.metric}: ${r.source} crossed (abortOnFail)`;
        stopAll.abort();
      }
    }
  }, 1000);
  try {
    await Promise.all(scenarios.map(([n, s]) => runScenario(n, s)));
  } finally {
    clearInterval(ticker);
    metrics.endedAt = performance.now();
    await agent.close();
  }
  return { metrics, thresholds: evaluate(metrics, thresholds), aborted };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) { resolve(); return; }
    const done = (): void => { clearTimeout(t); signal.removeEventListener('abort', done); resolve(); };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

// ---------------------------------------------------------------------------------------------
// summary

function fmtMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)}s`;
  if (ms >= 1) return `${ms.toFixed(2)}ms`;
  return `${(ms * 1000).toFixed(2)}µs`;
}

function fmtAgg(metric: string, agg: string, v: number): string {
  if (METRIC_KINDS[metric] === 'trend' && agg !== 'count') return fmtMs(v);
  if (agg === 'rate' && METRIC_KINDS[metric] === 'rate') return `${(v * 100).toFixed(2)}%`;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

const dots = (name: string, width = 32): string => `${name}${'.'.repeat(Math.max(2, width - name.length))}:`;

/** The k6 end-of-test summary (k6 1.x layout): thresholds, then totals. */
export function summary(r: RunResult, trendStats: string[] = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)']): string {
  const m = r.metrics;
  const out: string[] = [];
  if (r.thresholds.length) {
    out.push('  █ THRESHOLDS', '');
    const byMetric = new Map<string, ThresholdResult[]>();
    for (const t of r.thresholds) {
      const key = t.metric + (Object.keys(t.tags).length ? `{${Object.entries(t.tags).map(([k, v]) => `${k}:${v}`).join(',')}}` : '');
      byMetric.set(key, [...(byMetric.get(key) ?? []), t]);
    }
    for (const [key, ts] of byMetric) {
      out.push(`    ${key}`);
      for (const t of ts) out.push(`    ${t.ok ? '✓' : '✗'} '${t.source}' ${t.agg}=${fmtAgg(t.metric, t.agg, t.actual)}`);
      out.push('');
    }
  }
  out.push('  █ TOTAL RESULTS', '');
  const checks = m.value('checks')!.values;
  out.push(`    checks_total.......: ${checks.passes! + checks.fails!}`, `    checks_succeeded...: ${(checks.rate! * 100).toFixed(2)}% ${checks.passes}/${checks.passes! + checks.fails!}`, `    checks_failed......: ${((1 - checks.rate!) * 100 * (checks.passes! + checks.fails! ? 1 : 0)).toFixed(2)}% ${checks.fails}/${checks.passes! + checks.fails!}`, '');
  const names = new Set<string>();
  for (const s of m.scenarios.values()) for (const n of s.checks.keys()) names.add(n);
  for (const n of names) {
    let pass = 0; let fail = 0;
    for (const s of m.scenarios.values()) { const c = s.checks.get(n); pass += c?.pass ?? 0; fail += c?.fail ?? 0; }
    out.push(`    ${fail ? '✗' : '✓'} ${n}${fail ? `\n      ↳  ${((100 * pass) / (pass + fail)).toFixed(0)}% — ✓ ${pass} / ✗ ${fail}` : ''}`);
  }
  out.push('', '    HTTP');
  const d = m.value('http_req_duration')!.values;
  out.push(`    ${dots('http_req_duration', 28)} ${trendStats.map((s) => `${s}=${fmtMs(d[s] ?? 0)}`).join(' ')}`);
  const f = m.value('http_req_failed')!.values;
  out.push(`    ${dots('http_req_failed', 28)} ${(f.rate! * 100).toFixed(2)}% ${f.passes} out of ${f.passes! + f.fails!}`);
  const reqs = m.value('http_reqs')!.values;
  out.push(`    ${dots('http_reqs', 28)} ${reqs.count} ${reqs.rate!.toFixed(2)}/s`, '', '    EXECUTION');
  const it = m.value('iterations')!.values;
  const dr = m.value('dropped_iterations')!.values;
  out.push(`    ${dots('dropped_iterations', 28)} ${dr.count} ${dr.rate!.toFixed(2)}/s`);
  out.push(`    ${dots('iterations', 28)} ${it.count} ${it.rate!.toFixed(2)}/s`);
  out.push(`    ${dots('vus', 28)} max=${m.vusPeak} (requests in flight at once)`);
  out.push(`    ${dots('vus_max', 28)} ${m.vusMax}`, '', '    NETWORK');
  const dataR = m.value('data_received')!.values;
  out.push(`    ${dots('data_received', 28)} ${(dataR.count! / 1e6).toFixed(1)} MB ${(dataR.rate! / 1e3).toFixed(0)} kB/s (response bodies)`, '');
  return out.join('\n');
}
