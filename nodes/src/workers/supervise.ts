/**
 * `--workers N`: node:cluster forks N copies of the gateway; each binds the proxy port with
 * SO_REUSEPORT so the kernel spreads connections (no hand-off through the primary, which
 * would cost a round of IPC per connection). The primary supervises: it restarts a worker
 * that dies and, on SIGTERM, asks every worker to drain and waits for them. It also serves
 * the node's status port, combining the workers' answers (status-front.ts).
 * See docs/decisions/0002-workers.md.
 */
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { relayCounterDeltas } from '../cluster/counters/workers/primary.ts';
import { StatusFront, isStatusPortMessage } from './status-front.ts';
import { StatusWriteGate } from '../telemetry/status-auth.ts';

export interface SuperviseOptions {
  workers: number;
  /** host:port of the node's status server (node.status). */
  status: { host: string; port: number };
  logger: Logger;
  /** node.drainTimeout: a worker still running this long (plus a grace) after SIGTERM is killed. */
  drainMs: number;
  /** node.purgeToken: the status port's write gate (telemetry/status-auth.ts) is applied by the primary. */
  purgeToken?: string | undefined;
}

/** Time a draining worker gets beyond drainTimeout to leave the cluster and save its snapshot. */
const STOP_GRACE_MS = 10_000;

export async function superviseWorkers(o: SuperviseOptions): Promise<number> {
  const { logger } = o;
  let stopping = false;
  const front = new StatusFront(o.workers, logger, new StatusWriteGate(o.purgeToken));
  try {
    const addr = await front.listen(o.status.host, o.status.port);
    logger.info({ status: `${addr.address}:${addr.port}`, workers: o.workers }, 'node status server listening (primary)');
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'cannot listen on the status address');
    await front.close();
    return 1;
  }
  relayCounterDeltas(); // rate-limit use, passed between workers (cluster/counters/workers/)
  cluster.on('message', (w, msg) => {
    if (!isStatusPortMessage(msg)) return;
    front.register(w.id, w.process.pid ?? 0, msg.port);
    // A worker still loading when the stop began may have missed 'shutdown' (a message that
    // arrives before the worker listens for messages is lost): it hears it now.
    if (stopping) w.send('shutdown');
  });
  const fork = (): void => { cluster.fork(); };
  for (let i = 0; i < o.workers; i++) fork();
  cluster.on('exit', (w, code, signal) => {
    front.unregister(w.id);
    if (stopping) return;
    front.restarts++;
    logger.warn({ worker: w.process.pid, code, signal }, 'worker died; restarting');
    setTimeout(fork, 200);
  });
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      front.draining = true;
      logger.info({ signal, workers: Object.keys(cluster.workers ?? {}).length }, 'stopping workers');
      for (const w of Object.values(cluster.workers ?? {})) w?.send('shutdown');
      // A worker that cannot stop (stuck, or deaf to IPC) must not keep the node up forever.
      const kill = setTimeout(() => {
        for (const w of Object.values(cluster.workers ?? {})) {
          if (!w) continue;
          logger.error({ worker: w.process.pid }, 'worker did not stop within drainTimeout; killing it');
          w.process.kill('SIGKILL');
        }
      }, o.drainMs + STOP_GRACE_MS);
      const check = setInterval(() => {
        if (Object.keys(cluster.workers ?? {}).length > 0) return;
        clearInterval(check);
        clearTimeout(kill);
        void front.close().then(() => { logger.flush(); resolve(0); });
      }, 50);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
