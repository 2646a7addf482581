/**
 * What workers of one node tell each other, through the node:cluster primary: per rule id,
 * the units each key used since the last batch. Plain arrays, because the IPC channel
 * serialises with JSON.
 */
export const DELTA_TYPE = 'gatehouse:counters';

export interface DeltaMessage {
  type: typeof DELTA_TYPE;
  /** pid of the sending worker. */
  from: number;
  /** [rule id, keys, units used per key (same index; negative = refunded)]. */
  rules: Array<[string, string[], number[]]>;
}

export function isDeltaMessage(m: unknown): m is DeltaMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === DELTA_TYPE && Array.isArray((m as { rules?: unknown }).rules);
}

/** The worker's side of the IPC channel; process by default, a fake in tests. */
export interface Channel {
  send(msg: DeltaMessage): void;
  /** Subscribe; returns the unsubscribe function. */
  onMessage(fn: (msg: unknown) => void): () => void;
}

/** The channel of a node:cluster worker (process.send / process.on('message')). */
export function processChannel(): Channel {
  return {
    send(msg) {
      // A worker whose primary is gone is about to be stopped too; dropping a batch is fine then.
      if (process.connected) process.send?.(msg, undefined, undefined, () => undefined);
    },
    onMessage(fn) {
      process.on('message', fn);
      return () => { process.off('message', fn); };
    },
  };
}
