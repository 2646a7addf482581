/**
 * Per-route request metrics kept in plain typed arrays: the hot path only increments
 * numbers (no label hashing, no object allocation); the Prometheus text is produced at
 * scrape time. Cardinality is bounded: one series set per configured route name (plus
 * `_unmatched`), five status classes, fixed buckets.
 */
// Seconds. Chosen around a gateway's typical sub-millisecond overhead up to timeouts.
export const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const NB = BUCKETS.length;

export class Histogram {
  readonly counts = new Float64Array(NB + 1);
  sum = 0;
  count = 0;
  observe(seconds: number): void {
    let i = 0;
    while (i < NB && seconds > BUCKETS[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

export class RouteStats {
  readonly route: string;
  /** Responses by status class: index 1..5 for 1xx..5xx, 0 for aborted before a status. */
  readonly byClass = new Float64Array(6);
  readonly total = new Histogram();
  readonly upstream = new Histogram();
  constructor(route: string) { this.route = route; }
  record(status: number, totalSec: number, upstreamSec: number): void {
    const c = (status / 100) | 0;
    this.byClass[c >= 1 && c <= 5 ? c : 0]!++;
    this.total.observe(totalSec);
    if (upstreamSec >= 0) this.upstream.observe(upstreamSec);
  }
}

const OVERFLOW = '_overflow';

/** Route stats outlive snapshots, so counters do not reset on a config reload. */
export class RouteStatsTable {
  private readonly table = new Map<string, RouteStats>();
  private static readonly MAX = 10_000 + 1;
  get(route: string): RouteStats {
    let s = this.table.get(route);
    if (!s) {
      // Bounded: beyond MAX distinct routes, new ones share one series rather than growing the scrape.
      // (Not a recursive get('_overflow'): with the table full and no '_overflow' yet that never ended.)
      if (this.table.size >= RouteStatsTable.MAX && route !== OVERFLOW) return this.get(OVERFLOW);
      s = new RouteStats(route);
      this.table.set(route, s);
    }
    return s;
  }
  /** Drop routes no longer configured (called after a snapshot swap). */
  retain(names: { has(name: string): boolean }): void {
    for (const k of this.table.keys()) if (!names.has(k) && k !== '_unmatched' && k !== '_overflow') this.table.delete(k);
  }

  render(): string {
    const cls = ['aborted', '1xx', '2xx', '3xx', '4xx', '5xx'];
    const lines: string[] = [
      '# HELP gatehouse_requests_total Requests handled, by route and status class.',
      '# TYPE gatehouse_requests_total counter',
    ];
    for (const s of this.table.values()) {
      for (let i = 0; i < 6; i++) if (s.byClass[i]) lines.push(`gatehouse_requests_total{route=${q(s.route)},status_class="${cls[i]}"} ${s.byClass[i]}`);
    }
    renderHist(lines, 'gatehouse_request_duration_seconds', 'Total time in the gateway, first byte in to last byte out.', this.table, (s) => s.total);
    renderHist(lines, 'gatehouse_upstream_duration_seconds', 'Time from sending to the upstream to its response head.', this.table, (s) => s.upstream);
    return lines.join('\n') + '\n';
  }
}

function q(s: string): string { return JSON.stringify(s); }

function renderHist(lines: string[], name: string, help: string, table: ReadonlyMap<string, RouteStats>, pick: (s: RouteStats) => Histogram): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
  for (const s of table.values()) {
    const h = pick(s);
    if (!h.count) continue;
    let cum = 0;
    for (let i = 0; i < NB; i++) { cum += h.counts[i]!; lines.push(`${name}_bucket{route=${q(s.route)},le="${BUCKETS[i]}"} ${cum}`); }
    lines.push(`${name}_bucket{route=${q(s.route)},le="+Inf"} ${h.count}`, `${name}_sum{route=${q(s.route)}} ${h.sum}`, `${name}_count{route=${q(s.route)}} ${h.count}`);
  }
}
