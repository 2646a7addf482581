/**
 * `--workers N`: node:cluster forks N copies of the gateway; each binds the same ports with
 * SO_REUSEPORT so the kernel spreads connections (no hand-off through the primary, which
 * would cost a round of IPC per connection). The primary only supervises: it restarts a
 * worker that dies and, on SIGTERM, asks every worker to drain and waits for them.
 * See docs/decisions/0002-workers.md.
 */
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { relayCounterDeltas } from './cluster/counters/workers/primary.ts';

export function superviseWorkers(n: number, logger: Logger): Promise<number> {
  let stopping = false;
  const fork = (): void => { cluster.fork(); };
  relayCounterDeltas(); // rate-limit use, passed between workers (cluster/counters/workers/)
  for (let i = 0; i < n; i++) fork();
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    logger.warn({ worker: w.process.pid, code, signal }, 'worker died; restarting');
    setTimeout(fork, 200);
  });
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal, workers: Object.keys(cluster.workers ?? {}).length }, 'stopping workers');
      for (const w of Object.values(cluster.workers ?? {})) w?.send('shutdown');
      const check = setInterval(() => {
        if (Object.keys(cluster.workers ?? {}).length === 0) { clearInterval(check); logger.flush(); resolve(0); }
      }, 50);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
