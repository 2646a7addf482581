/**
 * `GET /v1/dashboard` (any token, viewer is enough): one JSON document the dashboard page
 * polls. Nodes come from the membership keys (status.ts); live numbers come from each live
 * node's status port (its address is in its membership key): `/metrics` for request counts,
 * latency buckets, CPU and the rate-limit and cache counters, `/upstreams` for target health
 * and breaker state. Rates are differences between this poll and the previous one of the
 * same node (kept here, per admin API process), so the page shows "now", not lifetime totals.
 * A node that does not answer within 1 s is shown with its error; the rest still render.
 */
import type { HandlerContext, Reply } from '../context.ts';
import { nodeStatus, sightingsOf, type NodeStatus } from '../status.ts';

interface Sample {
  at: number;
  /** route -> [total, 5xx] */
  reqs: Map<string, [number, number]>;
  /** route -> le -> cumulative count */
  buckets: Map<string, Map<number, number>>;
  cpu: number;
  counters: Map<string, number>;
}

const previous = new Map<string, Sample>();

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([-+0-9.eEInfNa]+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function labels(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!s) return out;
  for (const m of s.matchAll(LABEL)) out[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
  return out;
}

/** The parts of the Prometheus text the dashboard uses. */
export function parseMetrics(text: string, at: number): Sample {
  const s: Sample = { at, reqs: new Map(), buckets: new Map(), cpu: 0, counters: new Map() };
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const [, name, lab, raw] = m;
    const v = Number(raw);
    if (name === 'gatehouse_requests_total') {
      const l = labels(lab);
      const r = s.reqs.get(l.route!) ?? [0, 0];
      r[0] += v;
      if (l.status_class === '5xx') r[1] += v;
      s.reqs.set(l.route!, r);
    } else if (name === 'gatehouse_request_duration_seconds_bucket') {
      const l = labels(lab);
      const le = l.le === '+Inf' ? Infinity : Number(l.le);
      const b = s.buckets.get(l.route!) ?? new Map<number, number>();
      b.set(le, v);
      s.buckets.set(l.route!, b);
    } else if (name === 'gatehouse_process_cpu_seconds_total') {
      s.cpu = v;
    } else if (/^gatehouse_(rate_limit|rate_limited|cache)[a-z_]*_total$/.test(name!)) {
      const l = labels(lab);
      const key = `${name}${l.result ? `{result="${l.result}"}` : l.outcome ? `{outcome="${l.outcome}"}` : ''}`;
      s.counters.set(key, (s.counters.get(key) ?? 0) + v);
    }
  }
  return s;
}

/** p99 (seconds) from cumulative bucket counts: the upper bound of the bucket holding the 99th percentile. */
export function p99(buckets: Map<number, number>): number | null {
  const les = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? (les.length ? buckets.get(les[les.length - 1]!)! : 0);
  if (!total) return null;
  const want = total * 0.99;
  for (const le of les) if ((buckets.get(le) ?? 0) >= want) return le;
  return null;
}

async function fetchText(url: string): Promise<string> {
  const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return r.text();
}

interface RouteRow { route: string; rps: number; errorRatio: number | null; p99ms: number | null }

export async function dashboard(ctx: HandlerContext): Promise<Reply> {
  const [s, n, hist] = await Promise.all([ctx.store.read(), ctx.store.nodes(), ctx.store.history()]);
  const now = Date.now();
  const bounds = sightingsOf(ctx.store);
  const nodes = n.nodes.map((x) => nodeStatus(x, s.configRevision, now, bounds));
  const routes = new Map<string, { reqs: number; errs: number; seconds: number; buckets: Map<number, number> }>();
  const counters = new Map<string, number>();
  const upstreams: Record<string, { targets: Record<string, { nodes: number; available: number; health: Record<string, number>; breaker: Record<string, number> }> }> = {};
  const perNode = await Promise.all(nodes.map(async (node: NodeStatus) => {
    if (node.stale || !node.status) return { id: node.id, error: node.stale ? 'stale' : 'no status address' };
    const base = `http://${node.status}`;
    try {
      const [metrics, ups] = await Promise.all([fetchText(`${base}/metrics`), fetchText(`${base}/upstreams`)]);
      const cur = parseMetrics(metrics, performance.now());
      const prev = previous.get(node.id);
      previous.set(node.id, cur);
      const dt = prev ? (cur.at - prev.at) / 1000 : 0;
      for (const [route, [total, errs]] of cur.reqs) {
        const was = prev?.reqs.get(route) ?? [0, 0];
        const row = routes.get(route) ?? { reqs: 0, errs: 0, seconds: 0, buckets: new Map() };
        // A restarted node's counters start again from 0: then count from 0.
        const dTotal = prev && total >= was[0] ? total - was[0] : 0;
        row.reqs += dTotal;
        row.errs += prev && errs >= was[1] ? errs - was[1] : 0;
        row.seconds = Math.max(row.seconds, dt);
        const pb = prev?.buckets.get(route);
        for (const [le, c] of cur.buckets.get(route) ?? []) {
          // A route absent from the previous sample had no requests then: count from 0.
          const was = pb?.get(le) ?? 0;
          const d = prev && c >= was ? c - was : 0;
          row.buckets.set(le, (row.buckets.get(le) ?? 0) + d);
        }
        routes.set(route, row);
      }
      for (const [k, v] of cur.counters) counters.set(k, (counters.get(k) ?? 0) + v);
      const u = JSON.parse(ups) as { upstreams?: Record<string, { targets?: Array<{ url: string; available: boolean; health: string; breaker: string | null }> }> };
      for (const [name, up] of Object.entries(u.upstreams ?? {})) {
        const row = (upstreams[name] ??= { targets: {} });
        for (const t of up.targets ?? []) {
          const tr = (row.targets[t.url] ??= { nodes: 0, available: 0, health: {}, breaker: {} });
          tr.nodes++;
          if (t.available) tr.available++;
          tr.health[t.health] = (tr.health[t.health] ?? 0) + 1;
          const b = t.breaker ?? 'none';
          tr.breaker[b] = (tr.breaker[b] ?? 0) + 1;
        }
      }
      const cpu = prev && dt > 0 ? Math.max(0, (cur.cpu - prev.cpu) / dt) : null;
      return { id: node.id, cpu };
    } catch (err) {
      return { id: node.id, error: (err as Error).name === 'TimeoutError' ? 'status port did not answer in 1 s' : 'status port unreachable' };
    }
  }));
  const load = new Map(perNode.map((p) => [p.id, p]));
  // Every configured route has a row, requested or not.
  for (const name of s.items.routes.keys()) if (!routes.has(name)) routes.set(name, { reqs: 0, errs: 0, seconds: 0, buckets: new Map() });
  const routeRows: RouteRow[] = [...routes].filter(([r]) => r !== '_overflow').map(([route, r]) => ({
    route,
    rps: r.seconds > 0 ? r.reqs / r.seconds : 0,
    errorRatio: r.reqs ? r.errs / r.reqs : null,
    p99ms: (() => { const v = p99(r.buckets); return v === null || !Number.isFinite(v) ? null : Math.round(v * 100_000) / 100; })(),
  })).sort((a, b) => (a.route < b.route ? -1 : 1));
  return {
    status: 200,
    body: {
      time: new Date(now).toISOString(),
      prefix: ctx.store.prefix,
      configRevision: s.configRevision,
      nodes: nodes.map((x) => ({
        id: x.id, address: x.address, version: x.version, revision: x.revision, lag: Math.max(0, s.configRevision - x.revision),
        stale: x.stale, behind: x.behind, lastSeenMs: x.lastSeenMs, refused: x.refused, skipped: x.skipped.length,
        nats: x.nats, cpu: (load.get(x.id) as { cpu?: number | null } | undefined)?.cpu ?? null,
        error: (load.get(x.id) as { error?: string } | undefined)?.error ?? null,
      })),
      routes: routeRows,
      upstreams,
      counters: Object.fromEntries([...counters].sort()),
      history: hist.slice(-10).reverse(),
    },
  };
}
