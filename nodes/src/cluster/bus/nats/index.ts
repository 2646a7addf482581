/**
 * The cluster bus over core NATS (pub/sub only: no JetStream, so it works with any
 * nats-server ≥ 2.2). One connection per node process; a topic is the subject
 * `<namespace>.<topic>`, the namespace comes from the etcd prefix so two clusters can share
 * one NATS. Each payload is framed as [1 byte: id length][sender id][data], which costs
 * less than NATS headers and works on servers without them.
 *
 * Connection: the first connect is retried here with backoff (100 ms doubling to 2 s,
 * jittered) for as long as the node runs; once connected, nats.js reconnects by itself with
 * no attempt limit, paced by the same backoff measured from the moment the link was lost.
 * `noEcho` keeps the server from sending a node its own messages. A dead server behind a
 * live TCP path is found by pings (every `pingInterval`, 2 missed = stale, reconnect).
 *
 * While disconnected, publish() drops instead of letting nats.js buffer: a rate-limit batch
 * replayed seconds late would count old use as new, and breaker state is re-sent on reconnect.
 */
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { notify, type BusHandler, type ClusterBus, type StatusListener } from '../types.ts';

export interface NatsBusOptions {
  servers: string[];
  /** This node's id, stamped on every message (at most 255 bytes of UTF-8). */
  id: string;
  /** Subject prefix: `<namespace>.<topic>`; letters, digits, `_` and `-` (see namespaceOf). */
  namespace: string;
  logger: Logger;
  /** Backoff between connection attempts, ms (default 100 .. 2000). */
  retryMin?: number;
  retryMax?: number;
  /** Timeout of one connection attempt, ms (default 2000). */
  connectTimeout?: number;
  /** Ping interval, ms (default 2000): a server that misses 2 is dropped and redialled. */
  pingInterval?: number;
}

interface Topic { subject: string; handlers: Set<BusHandler>; sub: Subscription | undefined }

/** A NATS subject token from an etcd prefix: `/gatehouse` → `gatehouse`, `/a/b` → `a_b`. */
export function namespaceOf(prefix: string): string {
  const s = prefix.replace(/^\/+|\/+$/g, '').replace(/[^A-Za-z0-9_-]/g, '_');
  return s || 'gatehouse';
}

export class NatsBus implements ClusterBus {
  readonly kind = 'nats';
  readonly id: string;
  connected = false;
  /** Times the connection came back after a loss (for /cluster and tests). */
  reconnects = 0;
  readonly #o: NatsBusOptions;
  readonly #log: Logger;
  readonly #idBytes: Uint8Array;
  readonly #topics = new Map<string, Topic>();
  readonly #listeners = new Set<StatusListener>();
  readonly #retryMin: number;
  readonly #retryMax: number;
  #nc: NatsConnection | undefined;
  #closed = false;
  #running: Promise<void> | undefined;
  #downSince: number | undefined;
  #wake: (() => void) | undefined;
  #everConnected = false;

  constructor(o: NatsBusOptions) {
    if (!o.servers.length) throw new TypeError('NatsBus needs at least one server');
    this.#idBytes = new TextEncoder().encode(o.id);
    if (!this.#idBytes.length || this.#idBytes.length > 255) throw new TypeError(`node id must be 1-255 bytes: ${JSON.stringify(o.id)}`);
    if (!/^[A-Za-z0-9_-]+$/.test(o.namespace)) throw new TypeError(`bad NATS namespace ${JSON.stringify(o.namespace)}`);
    this.id = o.id;
    this.#o = o;
    this.#log = o.logger.child({ component: 'nats' });
    this.#retryMin = o.retryMin ?? 100;
    this.#retryMax = o.retryMax ?? 2000;
  }

  /** Begin connecting (in the background, forever). Idempotent. */
  start(): void {
    this.#running ??= this.#run();
  }

  /** Resolves true once connected, or false after `timeoutMs` (the bus keeps trying). */
  ready(timeoutMs: number): Promise<boolean> {
    if (this.connected) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { off(); resolve(false); }, timeoutMs);
      const off = this.onStatus((up) => { if (up) { clearTimeout(timer); off(); resolve(true); } });
    });
  }

  publish(topic: string, data: Uint8Array): boolean {
    const nc = this.#nc;
    if (!this.connected || nc === undefined) return false;
    const id = this.#idBytes;
    const frame = new Uint8Array(1 + id.length + data.length);
    frame[0] = id.length;
    frame.set(id, 1);
    frame.set(data, 1 + id.length);
    try {
      nc.publish(this.#topic(topic).subject, frame);
      return true;
    } catch {
      return false; // closed or draining between our check and the call
    }
  }

  subscribe(topic: string, handler: BusHandler): () => void {
    const t = this.#topic(topic);
    t.handlers.add(handler);
    if (this.#nc && !t.sub) t.sub = this.#sub(this.#nc, t);
    return () => {
      t.handlers.delete(handler);
      if (t.handlers.size) return;
      t.sub?.unsubscribe();
      t.sub = undefined;
      this.#topics.delete(topic);
    };
  }

  onStatus(fn: StatusListener): () => void {
    this.#listeners.add(fn);
    return () => { this.#listeners.delete(fn); };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake?.();
    const nc = this.#nc;
    this.#nc = undefined;
    this.#set(false);
    if (nc) await nc.close().catch(() => undefined);
    await this.#running;
  }

  #topic(name: string): Topic {
    let t = this.#topics.get(name);
    if (!t) {
      t = { subject: `${this.#o.namespace}.${name}`, handlers: new Set(), sub: undefined };
      this.#topics.set(name, t);
    }
    return t;
  }

  #sub(nc: NatsConnection, t: Topic): Subscription {
    return nc.subscribe(t.subject, {
      callback: (err, msg) => {
        if (err) return;
        const d = msg.data;
        const n = d[0] ?? 0;
        if (d.length < 1 + n || n === 0) return; // not one of ours
        const from = Buffer.from(d.buffer, d.byteOffset + 1, n).toString('utf8');
        if (from === this.id) return;
        notify(t.handlers, d.subarray(1 + n), from);
      },
    });
  }

  #set(up: boolean): void {
    if (this.connected === up) return;
    this.connected = up;
    notify(this.#listeners, up);
  }

  /** Reconnect pacing from the time the link was lost: ~retryMin at first, then half the outage so far, capped. */
  #delay = (): number => {
    const now = Date.now();
    const since = now - (this.#downSince ??= now);
    const d = Math.min(this.#retryMax, Math.max(this.#retryMin, since / 2));
    return d * (0.9 + Math.random() * 0.2);
  };

  async #run(): Promise<void> {
    let delay = this.#retryMin;
    let failures = 0;
    while (!this.#closed) {
      try {
        const nc = await connect({
          servers: this.#o.servers,
          name: `gatehouse ${this.id}`,
          noEcho: true,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectDelayHandler: this.#delay,
          timeout: this.#o.connectTimeout ?? 2000,
          pingInterval: this.#o.pingInterval ?? 2000,
          maxPingOut: 2,
        });
        if (this.#closed) { await nc.close().catch(() => undefined); return; }
        this.#nc = nc;
        for (const t of this.#topics.values()) t.sub = this.#sub(nc, t);
        void this.#watch(nc);
        delay = this.#retryMin;
        failures = 0;
        this.#log.info({ server: nc.getServer(), again: this.#everConnected }, 'NATS connected');
        this.#everConnected = true;
        this.#set(true);
        const err = await nc.closed();
        if (this.#closed) return;
        this.#nc = undefined;
        for (const t of this.#topics.values()) t.sub = undefined;
        this.#set(false);
        this.#log.warn({ err: err instanceof Error ? err.message : undefined }, 'NATS connection closed; connecting again');
      } catch (err) {
        // Log the first failure and then every 30th (~1 per minute at the 2 s cap), not each retry.
        if (failures++ % 30 === 0) this.#log.warn({ err: (err as Error).message, servers: this.#o.servers, retryInMs: delay }, 'NATS not reachable; still trying');
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { this.#wake = undefined; resolve(); }, delay * (0.8 + Math.random() * 0.4));
        this.#wake = () => { clearTimeout(timer); this.#wake = undefined; resolve(); };
      });
      delay = Math.min(delay * 2, this.#retryMax);
    }
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (nc !== this.#nc) return;
      if (s.type === 'disconnect' || s.type === 'staleConnection') {
        this.#downSince ??= Date.now();
        if (this.connected) this.#log.warn({ server: 'server' in s ? s.server : undefined, why: s.type }, 'NATS connection lost; reconnecting');
        this.#set(false);
      } else if (s.type === 'reconnect') {
        this.#downSince = undefined;
        this.reconnects++;
        this.#log.info({ server: s.server }, 'NATS reconnected');
        this.#set(true);
      }
    }
  }
}
