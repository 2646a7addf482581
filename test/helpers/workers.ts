/**
 * For tests of `gatehouse start --workers N` as a real child process. Requests go on fresh
 * connections so the kernel (SO_REUSEPORT) spreads them over the workers; the upstream tells
 * the workers apart by the gateway connection (its remote port) each request came on.
 */
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';
import { spawnTracked, killTracked, type Tracked } from './child.ts';
import { freePort } from './ports.ts';
import { waitFor } from './wait.ts';

const BIN = new URL('../../nodes/bin/gatehouse.js', import.meta.url).pathname;

/** One request on its own connection: status and the response headers. */
export function fresh(port: number, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

export interface Seen { path: string; port: number }

/** An upstream that answers 200 'ok' with `headers` and records each request's path and gateway connection. */
export async function recordingUpstream(t: ExecutionContext, headers: http.OutgoingHttpHeaders = {}): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const up = http.createServer((req, res) => {
    seen.push({ path: req.url!, port: req.socket.remotePort! });
    res.writeHead(200, headers);
    res.end('ok');
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  t.teardown(() => { up.closeAllConnections(); up.close(); });
  return { port: (up.address() as AddressInfo).port, seen };
}

/** How many gateway connections (so workers, with fresh client connections) sent `path`. */
export function connectionsFor(seen: readonly Seen[], path: string): number {
  return new Set(seen.filter((s) => s.path === path).map((s) => s.port)).size;
}

export interface WorkersNode { proc: Tracked; port: number; status: number }

/**
 * Start `gatehouse start --workers N` with `body` (upstreams, routes) under a `node` section on
 * free ports; `node` adds settings to it. Stopped with SIGTERM when the test ends.
 */
export async function startWorkersNode(t: ExecutionContext, workers: number, body: string, node = ''): Promise<WorkersNode> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-workers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [port, status] = [await freePort(), await freePort()];
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, `node: { listen: 127.0.0.1:${port}, status: 127.0.0.1:${status}, log: { level: warn, access: { enabled: false } }${node ? ', ' + node : ''} }\n${body}`);
  const proc = spawnTracked(process.execPath, [BIN, 'start', '--config', file, '--workers', String(workers)]);
  t.teardown(() => killTracked(proc, 'SIGTERM'));
  return { proc, port, status };
}

/** Wait until `n` workers serve: requests on fresh connections to `path` reach the upstream from `n` connections. */
export async function untilWorkersServe(node: WorkersNode, seen: readonly Seen[], path: string, n = 2): Promise<void> {
  await waitFor(async () => { await fresh(node.port, path); return connectionsFor(seen, path) >= n; }, { timeout: 30_000, interval: 10, message: `${n} workers serving\n${node.proc.output()}` });
}
