/**
 * A real nats-server for cluster tests on a free port, with kill / restart / stop. Ready means
 * it sent its INFO line on a fresh connection, i.e. it accepts clients.
 */
import { Socket } from 'node:net';
import { spawnTracked, killTracked, type Tracked } from './child.ts';
import { freePort } from './ports.ts';
import { waitFor } from './wait.ts';

export interface NatsServer {
  /** `nats://127.0.0.1:PORT` */
  url: string;
  port: number;
  pid(): number | undefined;
  /** Signal the server (default SIGKILL) and wait until it is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same port (stopping it first if it still runs). */
  restart(): Promise<void>;
  /** Kill for good. Safe to call twice. */
  stop(): Promise<void>;
}

function sendsInfo(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = new Socket();
    const done = (ok: boolean) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(500, () => done(false));
    sock.once('data', (d) => done(d.toString().startsWith('INFO ')));
    sock.once('error', () => done(false));
    sock.connect(port, '127.0.0.1');
  });
}

export async function startNats(opts: { startTimeout?: number } = {}): Promise<NatsServer> {
  const port = await freePort();
  let proc: Tracked | undefined;
  let stopped = false;

  const launch = async (): Promise<void> => {
    const p = spawnTracked('nats-server', ['-a', '127.0.0.1', '-p', String(port)]);
    proc = p;
    try {
      await waitFor(async () => {
        if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error('nats-server exited');
        return sendsInfo(port);
      }, { timeout: opts.startTimeout ?? 10_000, interval: 25, message: `nats-server on port ${port}` });
    } catch (err) {
      await killTracked(p);
      throw new Error(`${(err as Error).message}\n--- nats-server output ---\n${p.output()}`, { cause: err });
    }
  };
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (proc) await killTracked(proc, signal);
  };

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    pid: () => proc?.child.pid,
    kill,
    restart: async () => {
      if (stopped) throw new Error('nats-server was stopped; start a new one');
      await kill('SIGTERM');
      await launch();
    },
    stop: async () => { stopped = true; await kill('SIGKILL'); },
  };
}
