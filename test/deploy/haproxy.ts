/**
 * Debian's `haproxy` run with infra/haproxy/haproxy.cfg as it is, the addresses set through
 * the environment variables the config reads (ports templated), in the foreground, tracked so
 * it is killed with the test process. servers() reads HAProxy's own view from its stats CSV.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { spawnTracked, killTracked, type Tracked } from '../helpers/child.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';

export const HAPROXY_CFG = fileURLToPath(new URL('../../infra/haproxy/haproxy.cfg', import.meta.url));

export interface HaproxyBackend { addr: string; statusPort: number }

export interface ServerState {
  /** UP, DOWN, "UP 1/2" (going down), "DOWN 1/2" (coming up), MAINT, ... */
  status: string;
  /** Requests sent to this server (stot). */
  total: number;
  /** Retries (wretr) and redispatches (wredis) HAProxy did away from this server. */
  retries: number;
  redispatches: number;
}

export interface Haproxy {
  url: string;
  port: number;
  statsUrl: string;
  proc: Tracked;
  /** node1..node3 as HAProxy sees them now. */
  servers(): Promise<Record<string, ServerState>>;
  /** The backend line: failed connections (econ), failed responses (eresp), 5xx HAProxy made itself. */
  backend(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

/** The environment infra/haproxy/haproxy.cfg reads, for these ports. */
export function haproxyEnv(bind: string, statsBind: string, nodes: HaproxyBackend[], logLevel = 'notice'): Record<string, string> {
  const env: Record<string, string> = { GATEHOUSE_LB_BIND: bind, GATEHOUSE_LB_STATS_BIND: statsBind, GATEHOUSE_LB_LOG_LEVEL: logLevel };
  nodes.forEach((n, i) => {
    env[`GATEHOUSE_NODE${i + 1}_ADDR`] = n.addr;
    env[`GATEHOUSE_NODE${i + 1}_STATUS_PORT`] = String(n.statusPort);
  });
  return env;
}

/** `haproxy -c -f FILE` with `env`: exit code and output. */
export async function checkConfig(env: Record<string, string>, file = HAPROXY_CFG): Promise<{ code: number; output: string }> {
  try {
    const r = await promisify(execFile)('haproxy', ['-c', '-f', file], { env: { ...process.env, ...env } });
    return { code: 0, output: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

function parseCsv(text: string): Array<Record<string, string>> {
  const lines = text.trim().split('\n');
  const head = lines[0]!.replace(/^# /, '').split(',');
  return lines.slice(1).map((l) => {
    const cells = l.split(',');
    return Object.fromEntries(head.map((h, i) => [h, cells[i] ?? '']));
  });
}

export async function startHaproxy(nodes: HaproxyBackend[]): Promise<Haproxy> {
  const [port, statsPort] = [await freePort(), await freePort()];
  const env = haproxyEnv(`127.0.0.1:${port}`, `127.0.0.1:${statsPort}`, nodes);
  // -db: foreground, no daemon; -W would add a master process we do not need.
  const proc = spawnTracked('haproxy', ['-db', '-f', HAPROXY_CFG], env);
  const statsUrl = `http://127.0.0.1:${statsPort}/stats`;
  const rows = async (): Promise<Array<Record<string, string>>> => {
    const r = await fetch(`${statsUrl};csv`, { signal: AbortSignal.timeout(2000) });
    if (r.status !== 200) throw new Error(`stats: ${r.status}`);
    return parseCsv(await r.text()).filter((x) => x.pxname === 'gatehouse_nodes');
  };
  const h: Haproxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    statsUrl,
    proc,
    servers: async () => Object.fromEntries((await rows()).filter((x) => x.svname !== 'BACKEND').map((x) => [x.svname!, {
      status: x.status!, total: Number(x.stot), retries: Number(x.wretr), redispatches: Number(x.wredis),
    }])),
    backend: async () => (await rows()).find((x) => x.svname === 'BACKEND') ?? {},
    stop: () => killTracked(proc, 'SIGTERM', 3000),
  };
  try {
    await waitFor(async () => {
      if (proc.child.exitCode !== null) throw new Error(`haproxy exited with ${proc.child.exitCode}`);
      return Object.keys(await h.servers()).length === nodes.length;
    }, { timeout: 20_000, message: 'haproxy answering its stats page' });
  } catch (err) {
    await h.stop();
    throw new Error(`${(err as Error).message}\n--- haproxy output ---\n${proc.output()}`, { cause: err });
  }
  return h;
}
