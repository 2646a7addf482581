/**
 * Turns scenario results into ratios, PASS/FAIL target lines, a console table and a
 * markdown table. Ratios are the point: absolute req/s on a shared 2-core box are noise,
 * but peers measured minutes apart under the same conditions compare fairly.
 */
import type { Target } from '../scenarios.ts';

export interface ScenarioResult {
  name: string;
  group: string;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  rps?: number;
  p50Ms?: number;
  p99Ms?: number;
  requests?: number;
  socketErrors?: number;
  non2xx?: number;
  /** Proxy process-group CPU during the measured run, in cores (1.0 = its core fully busy). */
  proxyCpu?: number | null;
  /**
   * req/s per proxy CPU-second: what the proxy would do with a whole core. Much less noisy
   * than req/s when other work steals the machine, though it flatters a proxy that was
   * starved (less batching per wake-up costs it more per request, not less).
   */
  perCpu?: number | null;
  /** Busy share of the proxy's core not used by the proxy (softirq + other users' processes). */
  proxyCoreOther?: number | null;
  /** Busy share of the load core (wrk + upstream) during the measured run. */
  loadCore?: number | null;
  /** req/s of each round when BENCH_ROUNDS > 1 (the row shows the median round). */
  rounds?: number[];
}

export interface TargetOutcome { label: string; verdict: 'PASS' | 'FAIL' | 'SKIP'; detail: string }

export function errorCount(r: ScenarioResult): number {
  return (r.socketErrors ?? 0) + (r.non2xx ?? 0);
}

function usable(r: ScenarioResult | undefined): r is ScenarioResult & { rps: number } {
  return r !== undefined && r.status === 'ok' && typeof r.rps === 'number' && r.rps > 0;
}

export function ratio(results: ScenarioResult[], num: string, den: string): number | null {
  const n = results.find((r) => r.name === num);
  const d = results.find((r) => r.name === den);
  return usable(n) && usable(d) ? n.rps / d.rps : null;
}

/** Same as ratio() but on req/s per proxy CPU-second. */
export function cpuRatio(results: ScenarioResult[], num: string, den: string): number | null {
  const n = results.find((r) => r.name === num)?.perCpu;
  const d = results.find((r) => r.name === den)?.perCpu;
  return n && d ? n / d : null;
}

function times(x: number | null): string {
  return x === null ? '-' : `${x.toFixed(2)}x`;
}

export function evaluate(results: ScenarioResult[], t: Target): TargetOutcome {
  const r = ratio(results, t.numerator, t.denominator);
  if (r === null) {
    const failed = [t.numerator, t.denominator].filter((n) => results.find((x) => x.name === n)?.status === 'failed');
    if (failed.length) return { label: t.label, verdict: 'FAIL', detail: `${failed.join(' and ')} did not run` };
    return { label: t.label, verdict: 'SKIP', detail: `needs ${t.numerator} and ${t.denominator}` };
  }
  const errored = [t.numerator, t.denominator].filter((n) => errorCount(results.find((x) => x.name === n)!) > 0);
  let ok: boolean;
  let detail: string;
  // The per-CPU figure is shown beside the verdict, not used for it: it tells whether a
  // FAIL is the gateway or the noise.
  const c = cpuRatio(results, t.numerator, t.denominator);
  if (t.maxCost !== undefined) {
    const cost = 1 - r;
    ok = cost <= t.maxCost;
    detail = `cost ${pct(cost)} (max ${pct(t.maxCost)})${c === null ? '' : `; per proxy CPU-second ${pct(1 - c)}`}`;
  } else {
    ok = r >= (t.minRatio ?? 1);
    detail = `${r.toFixed(2)}x (min ${t.minRatio ?? 1}x)${c === null ? '' : `; per proxy CPU-second ${c.toFixed(2)}x`}`;
  }
  // A run that dropped requests may look fast for the wrong reason: never let it pass.
  if (errored.length) return { label: t.label, verdict: 'FAIL', detail: `${detail}; ERRORS in ${errored.join(', ')}` };
  return { label: t.label, verdict: ok ? 'PASS' : 'FAIL', detail };
}

export function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function ms(x: number | undefined): string {
  if (x === undefined) return '-';
  return x < 10 ? `${x.toFixed(2)}ms` : `${x.toFixed(1)}ms`;
}

function int(x: number | undefined): string {
  return x === undefined ? '-' : Math.round(x).toLocaleString('en-US');
}

function share(x: number | null | undefined): string {
  return x === null || x === undefined ? '-' : `${Math.round(x * 100)}%`;
}

function errorsCell(r: ScenarioResult): string {
  if (r.status !== 'ok') return r.status.toUpperCase();
  const n = errorCount(r);
  if (n === 0) return '0';
  return `!! ${r.non2xx ?? 0} non-2xx, ${r.socketErrors ?? 0} socket`;
}

export const HEADERS = ['scenario', 'req/s', 'p50', 'p99', 'errors', 'x floor', 'proxy cpu', 'req/cpu-s', 'x floor/cpu', 'proxy-core other', 'load-core busy'];

export function rows(results: ScenarioResult[], floor: string): string[][] {
  return results.map((r) => {
    const vsFloor = ratio(results, r.name, floor);
    const perCpuVsFloor = cpuRatio(results, r.name, floor);
    const name = r.status === 'ok' && errorCount(r) > 0 ? `${r.name} !!` : r.name;
    if (r.status !== 'ok') return [name, '-', '-', '-', errorsCell(r), '-', '-', '-', '-', '-', '-'];
    return [name, int(r.rps), ms(r.p50Ms), ms(r.p99Ms), errorsCell(r), times(vsFloor), share(r.proxyCpu), int(r.perCpu ?? undefined), times(perCpuVsFloor), share(r.proxyCoreOther), share(r.loadCore)];
  });
}

export function textTable(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export function markdownTable(header: string[], body: string[][]): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...body.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/**
 * Warnings that tell whether a row measured the proxy: a Node proxy that is not using its
 * whole core was throttled by something else (saturated load core, or other processes).
 */
export function diagnostics(results: ScenarioResult[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    if (r.status !== 'ok' || r.group === 'reference') continue;
    if (r.loadCore != null && r.loadCore > 0.9 && r.proxyCpu != null && r.proxyCpu < 0.85) {
      out.push(`${r.name}: the proxy used only ${share(r.proxyCpu)} of its core while the load core was ${share(r.loadCore)} busy (wrk + upstream + anyone else's work): not proxy-bound, trust req/cpu-s more`);
    }
    if (r.proxyCoreOther != null && r.proxyCoreOther > 0.2) {
      out.push(`${r.name}: ${share(r.proxyCoreOther)} of the proxy's core went to something else (other processes on this shared box?): rerun if it matters`);
    }
  }
  return out;
}
