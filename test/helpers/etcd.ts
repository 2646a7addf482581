/**
 * A real single-member etcd for cluster tests: free client and peer ports, a temp data dir,
 * and kill / restart / stop so tests can take it away and bring it back with its data.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestFn } from 'ava';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../../nodes/src/cluster/etcd-client.ts';
import { spawnTracked, killTracked, type Tracked } from './child.ts';
import { freePort } from './ports.ts';
import { waitFor } from './wait.ts';

const run = promisify(execFile);

export interface EtcdServer {
  /** `http://127.0.0.1:PORT`, for clients. */
  endpoint: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  pid(): number | undefined;
  /** Signal the server (default SIGKILL: a crash) and wait until it is gone. Data stays. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same ports and data dir (stopping it first if it still runs). */
  restart(): Promise<void>;
  /** Kill and delete the data dir. Safe to call twice. */
  stop(): Promise<void>;
  /** Run etcdctl against this server; resolves to its stdout. */
  ctl(...args: string[]): Promise<string>;
}

async function healthy(endpoint: string): Promise<boolean> {
  const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(500) });
  const body = (await res.json()) as { health?: string };
  return body.health === 'true';
}

export async function startEtcd(opts: { startTimeout?: number } = {}): Promise<EtcdServer> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-etcd-'));
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'test',
    '--data-dir', dataDir,
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `test=${peer}`,
    '--initial-cluster-state', 'new',
    '--logger', 'zap',
    '--log-level', 'warn',
  ];
  let proc: Tracked | undefined;
  let stopped = false;

  const launch = async (): Promise<void> => {
    const p = spawnTracked('etcd', args);
    proc = p;
    try {
      await waitFor(async () => {
        if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error('etcd exited');
        return healthy(endpoint);
      }, { timeout: opts.startTimeout ?? 10_000, interval: 50, message: `etcd healthy on ${endpoint}` });
    } catch (err) {
      await killTracked(p);
      throw new Error(`${(err as Error).message}\n--- etcd output ---\n${p.output()}`, { cause: err });
    }
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (proc) await killTracked(proc, signal);
  };

  try {
    await launch();
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }

  return {
    endpoint, clientPort, peerPort, dataDir,
    pid: () => proc?.child.pid,
    kill,
    restart: async () => {
      if (stopped) throw new Error('etcd was stopped; start a new one');
      await kill('SIGTERM');
      await launch();
    },
    stop: async () => {
      stopped = true;
      await kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    },
    ctl: async (...a: string[]) => {
      const { stdout } = await run('etcdctl', ['--endpoints', endpoint, '--dial-timeout', '2s', '--command-timeout', '5s', ...a], {
        env: { ...process.env, ETCDCTL_API: '3' },
      });
      return stdout;
    },
  };
}

/**
 * One etcd and one client for every test of a file: started in `test.before`, closed and
 * stopped in `test.after.always`. `ready` hands them to the file's own variables.
 */
export function etcdPerFile(test: TestFn, ready: (etcd: EtcdServer, client: Etcd3) => void): void {
  let etcd: EtcdServer | undefined;
  let client: Etcd3 | undefined;
  test.before(async () => {
    etcd = await startEtcd();
    client = createEtcdClient([etcd.endpoint]);
    ready(etcd, client);
  });
  test.after.always(async () => {
    client?.close();
    await etcd?.stop();
  });
}
