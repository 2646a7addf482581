/**
 * The cluster test bed: a real etcd (and nats-server when asked), N real `gatehouse start`
 * processes in cluster mode, each on free ports with its own config file and snapshot path,
 * and a health-aware weighted load balancer in the test process in front of them. stop()
 * kills everything and deletes the temp dir; every child is also killed when the test process
 * ends (spawnTracked).
 */
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request as undiciRequest, Agent } from 'undici';
import { spawnTracked, killTracked, type Tracked } from './child.ts';
import { startEtcd, type EtcdServer } from './etcd.ts';
import { startNats, type NatsServer } from './nats.ts';
import { freePort } from './ports.ts';
import { waitFor } from './wait.ts';
import { startBalancer, type TestBalancer } from './balancer.ts';

export const GATEHOUSE_BIN = fileURLToPath(new URL('../../nodes/bin/gatehouse.js', import.meta.url));

/** Node's compile cache, shared by every node process the tests start: halves their start time. */
export const COMPILE_CACHE_ENV = { NODE_COMPILE_CACHE: join(tmpdir(), 'gatehouse-compile-cache') };

const agent = new Agent({ keepAliveTimeout: 1000, connections: 32 });

/** GET a URL; status and parsed JSON body (or text). Never throws on HTTP status. */
export async function get(url: string, timeoutMs = 2000): Promise<{ status: number; body: any }> {
  const r = await undiciRequest(url, { dispatcher: agent, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const text = await r.body.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* text */ }
  return { status: r.statusCode, body };
}

export interface GatewayNode {
  name: string;
  id: string;
  port: number;
  statusPort: number;
  /** http://127.0.0.1:PORT of the proxy. */
  url: string;
  statusUrl: string;
  configPath: string;
  snapshotPath: string;
  proc: Tracked | undefined;
  running(): boolean;
  /** Spawn the process; resolves when /readyz is 200 (unless `ready: false`: when /healthz answers). */
  start(o?: { ready?: boolean; timeout?: number }): Promise<void>;
  /** Signal and wait for the exit (SIGTERM: graceful drain). */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** GET on the status port (`/readyz`, `/status`, `/cluster`). */
  status(path?: string): Promise<{ status: number; body: any }>;
  /** The revision /readyz reports (undefined when not ready). */
  revision(): Promise<number | undefined>;
  /** The snapshot file as the node last wrote it. */
  snapshot(): { revision: number; config: any } | undefined;
  output(): string;
}

export interface ClusterOptions {
  nodes?: number;
  /** Start a nats-server too and put it in node.cluster.nats. */
  nats?: boolean;
  /** Balancer weights by node index (default all 1). */
  weights?: number[];
  prefix?: string;
  /** Extra node.cluster settings (defaults: leaseTtl 2s, startTimeout 1s). */
  cluster?: Record<string, unknown>;
  /** Extra node settings (e.g. dns). */
  node?: Record<string, unknown>;
  healthInterval?: number;
  /** How long each node may take to become ready at start (ms, default 15000). */
  startTimeout?: number;
  /** Keys (relative to the prefix) and values put into etcd before the nodes start. */
  seed?: Record<string, unknown>;
}

export interface TestCluster {
  etcd: EtcdServer;
  nats: NatsServer | undefined;
  prefix: string;
  dir: string;
  nodes: GatewayNode[];
  lb: TestBalancer;
  /** etcdctl against the cluster's etcd. */
  ctl(...args: string[]): Promise<string>;
  /** `etcdctl put <prefix>/<key> <JSON of value>`; resolves to the revision of the write. */
  put(key: string, value: unknown): Promise<number>;
  /** `etcdctl del <prefix>/<key>`; resolves to etcd's revision after it. */
  del(key: string): Promise<number>;
  /** Wait until every running node's /readyz revision is at least `rev`. */
  converged(rev: number, timeout?: number): Promise<void>;
  /** etcd's current revision. */
  etcdRevision(): Promise<number>;
  stop(): Promise<void>;
}

export async function startCluster(o: ClusterOptions = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-cluster-'));
  const prefix = o.prefix ?? '/gatehouse';
  const etcd = await startEtcd();
  let nats: NatsServer | undefined;
  const nodes: GatewayNode[] = [];
  let lb: TestBalancer | undefined;
  const stop = async (): Promise<void> => {
    await lb?.close();
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    await nats?.stop();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (o.nats) nats = await startNats();
    for (const [k, v] of Object.entries(o.seed ?? {})) await etcd.ctl('put', `${prefix}/${k}`, typeof v === 'string' ? v : JSON.stringify(v));
    const count = o.nodes ?? 3;
    for (let i = 0; i < count; i++) nodes.push(await makeNode(i, dir, etcd, prefix, nats, o));
    await Promise.all(nodes.map((n) => n.start(o.startTimeout ? { timeout: o.startTimeout } : {})));
    lb = await startBalancer(nodes.map((n, i) => ({ name: n.name, port: n.port, statusPort: n.statusPort, weight: o.weights?.[i] ?? 1 })), { healthInterval: o.healthInterval ?? 100 });
    const balancer = lb;
    await waitFor(() => Object.values(balancer.up()).every(Boolean), { message: 'balancer sees every node up' });
  } catch (err) {
    await stop();
    throw err;
  }
  const ctl = (...args: string[]) => etcd.ctl(...args);
  const etcdRevision = async () => Number((JSON.parse(await ctl('endpoint', 'status', '-w', 'json')) as Array<{ Status: { header: { revision: number } } }>)[0]!.Status.header.revision);
  return {
    etcd, nats, prefix, dir, nodes, lb,
    ctl,
    put: async (key, value) => revisionOf(await ctl('put', `${prefix}/${key}`, typeof value === 'string' ? value : JSON.stringify(value), '-w', 'json')),
    del: async (key) => revisionOf(await ctl('del', `${prefix}/${key}`, '-w', 'json')),
    etcdRevision,
    converged: async (rev, timeout = 5000) => {
      await waitFor(async () => {
        for (const n of nodes) if (n.running() && ((await n.revision()) ?? 0) < rev) return false;
        return true;
      }, { timeout, interval: 20, message: `every node serves revision >= ${rev}` });
    },
    stop,
  };
}

async function makeNode(i: number, dir: string, etcd: EtcdServer, prefix: string, nats: NatsServer | undefined, o: ClusterOptions): Promise<GatewayNode> {
  const [port, statusPort] = [await freePort(), await freePort()];
  const name = `n${i + 1}`;
  const configPath = join(dir, `${name}.yaml`);
  const snapshotPath = join(dir, `snapshot-${name}.json`);
  const config = {
    node: {
      listen: `127.0.0.1:${port}`,
      status: `127.0.0.1:${statusPort}`,
      drainTimeout: '5s',
      log: { level: 'warn', access: { enabled: false } },
      // Cluster tests start nodes before any route exists and wait for /readyz.
      readyWithoutRoutes: true,
      ...o.node,
      cluster: {
        id: name,
        etcd: { endpoints: [etcd.endpoint], prefix },
        ...(nats ? { nats: { servers: [nats.url] } } : {}),
        snapshot: snapshotPath,
        leaseTtl: '2s',
        startTimeout: '1s',
        ...o.cluster,
      },
    },
  };
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const node: GatewayNode = {
    name, id: name, port, statusPort, configPath, snapshotPath,
    url: `http://127.0.0.1:${port}`,
    statusUrl: `http://127.0.0.1:${statusPort}`,
    proc: undefined,
    running: () => !!node.proc && node.proc.child.exitCode === null && node.proc.child.signalCode === null,
    start: async (so = {}) => {
      if (node.running()) throw new Error(`${name} is already running`);
      const p = spawnTracked(process.execPath, [GATEHOUSE_BIN, 'start', '--config', configPath], COMPILE_CACHE_ENV);
      node.proc = p;
      const path = so.ready === false ? '/healthz' : '/readyz';
      await waitFor(async () => {
        if (p.child.exitCode !== null) throw new Error(`${name} exited with ${p.child.exitCode}`);
        return (await node.status(path)).status === 200;
      }, { timeout: so.timeout ?? 30_000, interval: 25, message: `${name} answering ${path}` }).catch(async (err: Error) => {
        // Stopped here: a child left running would keep the test worker alive after the failure.
        await killTracked(p, 'SIGKILL');
        throw new Error(`${err.message}\n--- ${name} output ---\n${p.output()}`);
      });
    },
    stop: async (signal = 'SIGTERM') => {
      if (node.proc) await killTracked(node.proc, signal, 10_000);
    },
    status: (path = '/status') => get(node.statusUrl + path),
    revision: async () => {
      try {
        const r = await node.status('/readyz');
        return r.status === 200 ? Number(r.body.revision) : undefined;
      } catch {
        return undefined;
      }
    },
    snapshot: () => (existsSync(snapshotPath) ? JSON.parse(readFileSync(snapshotPath, 'utf8')) as { revision: number; config: any } : undefined),
    output: () => node.proc?.output() ?? '',
  };
  return node;
}

const revisionOf = (json: string): number => Number((JSON.parse(json) as { header: { revision: number } }).header.revision);

/** p-th percentile (0..100) of `xs` by nearest rank. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
