/**
 * The primary's part of the workers store: pass each worker's batch of deltas on to every
 * other worker. No state and no decision here; the primary stays a plain supervisor.
 */
import cluster from 'node:cluster';
import { isDeltaMessage } from './protocol.ts';

export function relayCounterDeltas(): void {
  cluster.on('message', (from, msg) => {
    if (!isDeltaMessage(msg)) return;
    for (const w of Object.values(cluster.workers ?? {})) {
      if (w && w !== from && w.isConnected()) w.send(msg);
    }
  });
}
