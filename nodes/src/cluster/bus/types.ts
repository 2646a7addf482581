/**
 * The cluster bus: small fire-and-forget messages between the nodes of one cluster (rate-limit
 * use, breaker transitions, cache purges, heartbeats). Architecture principle 6: this is the
 * interface, each implementation has its own folder: nats/ (production, core NATS pub/sub)
 * and memory/ (one process; unit tests).
 *
 * The rules every implementation keeps, because the request path relies on them:
 *  - publish() never blocks, never throws and never queues while disconnected: it returns
 *    false and the message is gone. Everything sent on the bus is either periodic (a lost
 *    batch only makes a limit a little looser for one period) or repeated on reconnect.
 *  - Delivery is at most once, unordered between senders, and a node never hears itself.
 *  - Every message carries the sender's node id; handlers get it as `from`.
 *  - onStatus() listeners hear every change of `connected`, in order.
 */

export type BusHandler = (data: Uint8Array, from: string) => void;
export type StatusListener = (connected: boolean) => void;

export interface ClusterBus {
  /** 'nats' | 'memory': shown in /cluster and logs. */
  readonly kind: string;
  /** This node's id (the membership id); stamped on every message sent. */
  readonly id: string;
  /** Connected to the bus now: what is published reaches the other connected nodes. */
  readonly connected: boolean;
  /** Send `data` on `topic` to every other node. False (and dropped) when not connected. */
  publish(topic: string, data: Uint8Array): boolean;
  /** Hear `topic` from the other nodes, from now on and across reconnects. Returns the unsubscribe. */
  subscribe(topic: string, handler: BusHandler): () => void;
  /** Told `true` when the bus (re)connects and `false` when it is lost. Returns the unsubscribe. */
  onStatus(fn: StatusListener): () => void;
  /** Leave the bus; later publishes return false. */
  close(): Promise<void>;
}

/** Topics, one per kind of shared state (a NATS subject is `<namespace>.<topic>`). */
export const TOPICS = {
  heartbeat: 'hb',
  rateLimit: 'rl',
  breaker: 'breaker',
  cachePurge: 'cache',
} as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(v: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(v));
}

/** The JSON value of `data`, or undefined when it is not JSON (a foreign or corrupt message). */
export function decodeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(data)) as unknown;
  } catch {
    return undefined;
  }
}

/** Calls every listener; one that throws does not stop the others or the caller. */
export function notify<A extends unknown[]>(listeners: Iterable<(...args: A) => void>, ...args: A): void {
  for (const fn of listeners) {
    try { fn(...args); } catch { /* a listener's bug must not break the bus */ }
  }
}
