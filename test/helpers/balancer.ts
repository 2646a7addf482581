/**
 * The load balancer in front of the gateway nodes in cluster tests, doing what a real one
 * (HAProxy, an ALB) does and no more:
 * - smooth weighted round robin over the nodes (nginx's algorithm), so tests can send 70/20/10;
 * - active health checks: GET /readyz on each node's status port every `healthInterval` ms;
 *   a node answering anything but 200 (503 while draining) or not answering gets no new requests;
 * - passive: a refused connection marks the node down until its next good check;
 * - one retry on another node when the request failed before any response byte (connection
 *   refused or reset: HAProxy `retries 1` + `option redispatch` + `retry-on conn-failure
 *   empty-response`). Only for methods that are safe to repeat.
 * Requests the balancer could not place anywhere get a 502 and count as `failed`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request as undiciRequest, Agent } from 'undici';

export interface Backend {
  name: string;
  port: number;
  statusPort: number;
  weight: number;
}

interface State extends Backend {
  up: boolean;
  current: number;
  served: number;
  checking: boolean;
}

export interface BalancerStats {
  requests: number;
  /** Answered 502 by the balancer: no node could take the request. */
  failed: number;
  retried: number;
  /** Requests answered by each backend, by name. */
  served: Record<string, number>;
}

export interface TestBalancer {
  url: string;
  port: number;
  stats(): BalancerStats;
  resetStats(): void;
  /** Which backends the balancer sends to now. */
  up(): Record<string, boolean>;
  setWeights(weights: Record<string, number>): void;
  /** Replace a backend's ports (a node restarted elsewhere); it starts down until checked. */
  update(name: string, b: Partial<Backend>): void;
  close(): Promise<void>;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

export async function startBalancer(backends: Backend[], opts: { healthInterval?: number } = {}): Promise<TestBalancer> {
  const nodes: State[] = backends.map((b) => ({ ...b, up: false, current: 0, served: 0, checking: false }));
  const stats = { requests: 0, failed: 0, retried: 0 };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const checker = new Agent({ keepAliveTimeout: 1000, connections: 4 });

  const check = async (n: State): Promise<void> => {
    if (n.checking) return;
    n.checking = true;
    try {
      const r = await undiciRequest(`http://127.0.0.1:${n.statusPort}/readyz`, { dispatcher: checker, headersTimeout: 500, bodyTimeout: 500 });
      await r.body.dump();
      n.up = r.statusCode === 200;
    } catch {
      n.up = false;
    } finally {
      n.checking = false;
    }
  };
  await Promise.all(nodes.map(check));
  const timer = setInterval(() => { for (const n of nodes) void check(n); }, opts.healthInterval ?? 100);

  /** Smooth weighted round robin over the nodes that are up, skipping `exclude`. */
  const pick = (exclude?: State): State | undefined => {
    let total = 0;
    let best: State | undefined;
    for (const n of nodes) {
      if (!n.up || n.weight <= 0 || n === exclude) continue;
      n.current += n.weight;
      total += n.weight;
      if (!best || n.current > best.current) best = n;
    }
    if (best) best.current -= total;
    return best;
  };

  const server = http.createServer((req, res) => {
    stats.requests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const attempt = (n: State | undefined, tries: number): void => {
        if (!n) { fail(); return; }
        let started = false;
        const up = http.request({ host: '127.0.0.1', port: n.port, method: req.method, path: req.url, headers: req.headers, agent }, (ur) => {
          started = true;
          n.served++;
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
          ur.on('error', () => res.destroy());
        });
        up.on('error', (err: NodeJS.ErrnoException) => {
          if (started) { res.destroy(); return; }
          if (err.code === 'ECONNREFUSED') n.up = false; // passive check: back when /readyz says so
          if (tries < 1 && IDEMPOTENT.has(req.method ?? 'GET')) {
            stats.retried++;
            attempt(pick(n), tries + 1);
          } else fail();
        });
        up.end(body);
      };
      attempt(pick(), 0);
    });
    const fail = (): void => {
      stats.failed++;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('balancer: no node could take the request');
    };
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats: () => ({ ...stats, served: Object.fromEntries(nodes.map((n) => [n.name, n.served])) }),
    resetStats: () => { stats.requests = stats.failed = stats.retried = 0; for (const n of nodes) n.served = 0; },
    up: () => Object.fromEntries(nodes.map((n) => [n.name, n.up])),
    setWeights: (w) => { for (const n of nodes) { if (w[n.name] !== undefined) n.weight = w[n.name]!; n.current = 0; } },
    update: (name, b) => {
      const n = nodes.find((x) => x.name === name);
      if (n) { Object.assign(n, b); n.up = false; }
    },
    close: async () => {
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      agent.destroy();
      await checker.close();
    },
  };
}

export interface LoadResult {
  ok: number;
  failed: number;
  /** The first few failures: status or error text. */
  failures: string[];
  statuses: Record<number, number>;
}

export interface Load {
  /** Stop sending, wait for requests in flight, and report. */
  stop(): Promise<LoadResult>;
  /** Counts so far. */
  current(): LoadResult;
}

/**
 * Keep `concurrency` clients sending GET `path` through `url`, each pausing `pauseMs` between
 * requests (so the load leaves CPU for the nodes on a small machine). A request fails if it
 * errors or its status is not `expect` (default 200).
 */
export function startLoad(url: string, o: { path: string; concurrency?: number; pauseMs?: number; expect?: number; host?: string }): Load {
  const agent = new Agent({ keepAliveTimeout: 2000, connections: o.concurrency ?? 4 });
  const r: LoadResult = { ok: 0, failed: 0, failures: [], statuses: {} };
  let running = true;
  const one = async (): Promise<void> => {
    while (running) {
      try {
        const res = await undiciRequest(url + o.path, { dispatcher: agent, headersTimeout: 10_000, ...(o.host ? { headers: { host: o.host } } : {}) });
        const text = await res.body.text();
        r.statuses[res.statusCode] = (r.statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode === (o.expect ?? 200)) r.ok++;
        else { r.failed++; if (r.failures.length < 10) r.failures.push(`${res.statusCode} ${text.slice(0, 200)}`); }
      } catch (err) {
        r.failed++;
        if (r.failures.length < 10) r.failures.push(`error ${(err as Error).message}`);
      }
      if (o.pauseMs !== 0) await new Promise((res) => setTimeout(res, o.pauseMs ?? 5));
    }
  };
  const loops = Array.from({ length: o.concurrency ?? 4 }, one);
  let stopped: Promise<LoadResult> | undefined;
  return {
    current: () => ({ ...r, failures: [...r.failures], statuses: { ...r.statuses } }),
    stop: () => {
      stopped ??= (async () => {
        running = false;
        await Promise.all(loops);
        await agent.close();
        return r;
      })();
      return stopped;
    },
  };
}
