/**
 * The status server (contract port 9080): /healthz (alive), /readyz (config loaded and
 * not draining), /metrics (Prometheus text), /status (JSON: revision, routes, config
 * errors). Other parts register more paths (health-check state, cache purge) through
 * `statusRoutes` without editing this file.
 */
import http from 'node:http';
import type { Metrics } from './metrics.ts';

export type StatusRoute = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

/** What the status server reads of the node (the gateway); structural, so telemetry names no layer above it. */
export interface StatusView {
  readonly ready: boolean;
  /** node.readyWithoutRoutes: a node with zero routes is ready only when this is set. */
  readonly readyWithoutRoutes: boolean;
  readonly configErrors: readonly { readonly path: string; readonly message: string }[];
  readonly metrics: Metrics;
  readonly rt: { readonly draining: boolean; readonly inflight: number };
  readonly snapshot: {
    readonly revision: number;
    readonly routes: ReadonlyMap<string, unknown>;
    readonly upstreams: ReadonlyMap<string, { readonly targets: readonly { readonly url: string; readonly available: boolean; readonly inflight: number }[] }>;
  } | undefined;
}

/** A JSON answer of the status port (its own endpoints, cache purge, the workers' front). */
export function sendJson(res: http.ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s), ...extra });
  res.end(s);
}

export function createStatusServer(gw: StatusView, extra: ReadonlyMap<string, StatusRoute>): http.Server {
  return http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const snap = gw.snapshot;
    try {
      if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
      if (path === '/readyz') {
        // A node that routes nothing would 404 every request: keep it out of the balancer.
        if (gw.ready && snap!.routes.size === 0 && !gw.readyWithoutRoutes) return sendJson(res, 503, { status: 'no routes', revision: snap!.revision });
        if (gw.ready) return sendJson(res, 200, { status: 'ready', revision: snap!.revision });
        return sendJson(res, 503, { status: gw.rt.draining ? 'draining' : 'no config', errors: gw.configErrors });
      }
      if (path === '/metrics') {
        void gw.metrics.render().then((text) => {
          res.writeHead(200, { 'content-type': gw.metrics.contentType });
          res.end(text);
        }, () => sendJson(res, 500, { error: 'metrics unavailable' }));
        return;
      }
      if (path === '/status') {
        return sendJson(res, 200, {
          revision: snap?.revision ?? null,
          ready: gw.ready,
          inflight: gw.rt.inflight,
          routes: snap ? [...snap.routes.keys()] : [],
          upstreams: snap ? Object.fromEntries([...snap.upstreams].map(([n, u]) => [n, u.targets.map((t) => ({ url: t.url, available: t.available, inflight: t.inflight }))])) : {},
          configErrors: gw.configErrors,
        });
      }
      const h = extra.get(path);
      if (h) {
        const r = h(req, res);
        if (r) r.catch(() => { if (!res.headersSent) sendJson(res, 500, { error: 'internal' }); });
        return;
      }
      sendJson(res, 404, { error: 'not found' });
    } catch {
      if (!res.headersSent) sendJson(res, 500, { error: 'internal' });
    }
  });
}
