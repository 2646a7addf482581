/**
 * The status port of a node run with `--workers N`, served by the primary so that it answers
 * for the node rather than for whichever worker the kernel handed the connection to. Each
 * worker runs its own status server on a private loopback port and reports it over IPC
 * (STATUS_PORT message); the primary asks the workers and combines their answers:
 *
 *  - GET /healthz    the primary is alive (no worker asked)
 *  - GET /readyz     200 when at least one worker runs and every running worker is ready;
 *                    503 before that and while draining
 *  - GET /metrics    every worker's metrics merged (merge-metrics.ts) plus gatehouse_workers
 *                    and gatehouse_worker_restarts_total
 *  - other methods   (POST /cache/purge) checked by the status port's write gate here (the
 *                    workers see the primary, a loopback peer, and none of the client's
 *                    Origin or Authorization), then sent to every worker; numeric fields of
 *                    their JSON answers summed: `{"purged": n}` counts the node's entries
 *  - any other GET   (/status, /upstreams, /cluster) passed to one worker, the oldest
 *
 * See docs/decisions/0002-workers.md.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import client from 'prom-client';
import { mergeMetrics } from './merge-metrics.ts';
import { sendJson as json } from '../telemetry/status.ts';
import type { StatusWriteGate } from '../telemetry/status-auth.ts';

/** Sent by a worker once its status server listens. */
export interface StatusPortMessage { readonly type: 'gatehouse:status-port'; readonly port: number }

export function isStatusPortMessage(m: unknown): m is StatusPortMessage {
  return typeof m === 'object' && m !== null && (m as StatusPortMessage).type === 'gatehouse:status-port'
    && Number.isInteger((m as StatusPortMessage).port);
}

interface WorkerEntry { readonly id: number; readonly pid: number; readonly port: number }

interface Answer { status: number; contentType: string | undefined; body: Buffer }

const ASK_TIMEOUT_MS = 5_000;
const MAX_BODY = 64 * 1024;
const PROMETHEUS = client.Registry.PROMETHEUS_CONTENT_TYPE;

/** A worker's answer, passed on as it is. */
function relay(res: http.ServerResponse, a: Answer): void {
  res.writeHead(a.status, { ...(a.contentType ? { 'content-type': a.contentType } : {}), 'content-length': a.body.length });
  res.end(a.body);
}

export class StatusFront {
  /** Workers whose status port is known, by cluster worker id (ascending: the oldest first). */
  private readonly workers = new Map<number, WorkerEntry>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  private readonly server: http.Server;
  draining = false;
  restarts = 0;
  private readonly expected: number;
  private readonly logger: Logger;
  private readonly gate: StatusWriteGate;

  constructor(expected: number, logger: Logger, gate: StatusWriteGate) {
    this.expected = expected;
    this.logger = logger;
    this.gate = gate;
    this.server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => {
      this.handle(req, res).catch((err: Error) => {
        this.logger.warn({ err: err.message, path: req.url }, 'status request failed');
        if (!res.headersSent) json(res, 500, { error: 'internal' });
        else res.destroy();
      });
    });
  }

  register(id: number, pid: number, port: number): void {
    this.workers.set(id, { id, pid, port });
  }

  unregister(id: number): void { this.workers.delete(id); }

  get running(): number { return this.workers.size; }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    this.agent.destroy();
    return new Promise((r) => { this.server.close(() => r()); this.server.closeAllConnections(); });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const path = url.split('?')[0]!;
    const method = req.method ?? 'GET';
    const read = method === 'GET' || method === 'HEAD';
    if (read && path === '/healthz') return json(res, 200, { status: 'ok', workers: this.running });
    if (read && path === '/readyz') return this.readyz(res);
    if (read && path === '/metrics') return this.metrics(res);
    if (!read) {
      const refused = this.gate.refusal(req);
      if (refused !== undefined) return json(res, refused.status, { error: refused.error }, refused.headers);
    }
    const body = await readBody(req);
    if (body === undefined) return json(res, 413, { error: `body over ${MAX_BODY} bytes` });
    const workers = [...this.workers.values()];
    if (workers.length === 0) return json(res, 503, { error: 'no worker is running' });
    const headers = pick(req.headers, ['accept', 'content-type']);
    if (read) {
      const a = await this.ask(workers[0]!, method, url, headers, body).catch(() => undefined);
      if (!a) return json(res, 502, { error: 'the worker did not answer' });
      return relay(res, a);
    }
    // A change (a cache purge): every worker holds its own state, so every worker applies it.
    const answers = await Promise.all(workers.map((w) => this.ask(w, method, url, headers, body).catch(() => undefined)));
    const first = answers.find((a) => a !== undefined);
    const failed = answers.filter((a) => a === undefined).length;
    if (!first) return json(res, 502, { error: 'no worker answered' });
    if (first.status >= 300 || !first.contentType?.startsWith('application/json')) return relay(res, first);
    const sum = sumJson(answers.filter((a): a is Answer => a !== undefined && a.status === first.status).map((a) => a.body));
    if (failed) return json(res, 502, { error: `${failed} of ${workers.length} workers did not answer; the others applied it`, ...sum });
    json(res, first.status, sum);
  }

  private async readyz(res: http.ServerResponse): Promise<void> {
    const workers = [...this.workers.values()];
    if (this.draining) return json(res, 503, { status: 'draining', workers: workers.length });
    const answers = await Promise.all(workers.map((w) => this.ask(w, 'GET', '/readyz', {}, Buffer.alloc(0)).catch(() => undefined)));
    const states = workers.map((w, i) => {
      const a = answers[i];
      let revision: number | null = null;
      try { revision = a ? (JSON.parse(a.body.toString()) as { revision?: number }).revision ?? null : null; } catch { /* not JSON */ }
      return { pid: w.pid, ready: a?.status === 200, revision };
    });
    if (states.length > 0 && states.every((s) => s.ready)) {
      return json(res, 200, { status: 'ready', revision: Math.max(...states.map((s) => s.revision ?? 0)), workers: states.length });
    }
    json(res, 503, { status: states.length ? 'not ready' : 'starting', expected: this.expected, workers: states });
  }

  private async metrics(res: http.ServerResponse): Promise<void> {
    // Counts as of the moment the workers are asked, so the answer is one consistent picture.
    const workers = [...this.workers.values()];
    const restarts = this.restarts;
    const answers = await Promise.all(workers.map((w) => this.ask(w, 'GET', '/metrics', {}, Buffer.alloc(0)).catch((err: Error) => {
      this.logger.warn({ worker: w.pid, err: err.message }, 'metrics: a worker did not answer; left out of this scrape');
      return undefined;
    })));
    const texts = answers.filter((a): a is Answer => a?.status === 200).map((a) => a.body.toString('utf8'));
    const own = [
      '# HELP gatehouse_workers Worker processes of this node: expected (--workers), running (status port known), scraped (in this answer).',
      '# TYPE gatehouse_workers gauge',
      `gatehouse_workers{state="expected"} ${this.expected}`,
      `gatehouse_workers{state="running"} ${workers.length}`,
      `gatehouse_workers{state="scraped"} ${texts.length}`,
      '# HELP gatehouse_worker_restarts_total Workers that died and were started again.',
      '# TYPE gatehouse_worker_restarts_total counter',
      `gatehouse_worker_restarts_total ${restarts}`,
      '',
    ].join('\n');
    const text = mergeMetrics(texts) + own;
    res.writeHead(200, { 'content-type': PROMETHEUS, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private ask(w: WorkerEntry, method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1', port: w.port, method, path, agent: this.agent, timeout: ASK_TIMEOUT_MS,
        headers: { ...headers, ...(body.length ? { 'content-length': body.length } : {}) },
      }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode ?? 502, contentType: r.headers['content-type'], body: Buffer.concat(chunks) }));
        r.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`worker ${w.pid} did not answer within ${ASK_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}

function pick(h: http.IncomingHttpHeaders, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) { const v = h[n]; if (typeof v === 'string') out[n] = v; }
  return out;
}

/** The request body, or undefined when it is over MAX_BODY. */
function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) { req.pause(); resolve(undefined); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The first JSON object with its numeric fields summed over all of them. */
function sumJson(bodies: readonly Buffer[]): Record<string, unknown> {
  const objs = bodies.map((b) => { try { return JSON.parse(b.toString('utf8')) as unknown; } catch { return undefined; } })
    .filter((o): o is Record<string, unknown> => typeof o === 'object' && o !== null && !Array.isArray(o));
  const out: Record<string, unknown> = { ...objs[0] };
  for (const [k, v] of Object.entries(out)) {
    if (typeof v === 'number') out[k] = objs.reduce((s, o) => s + (typeof o[k] === 'number' ? o[k] : 0), 0);
  }
  return out;
}
