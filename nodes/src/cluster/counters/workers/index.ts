/**
 * The counter store of one node run as `--workers N`: the node keeps ONE limit, not one
 * per worker. Each worker decides locally, as the local store does, from a view that adds
 * the other workers' use; every `flushInterval` (50 ms) it sends the units each key used
 * since the last batch to the primary, which passes them on (workers/primary.ts). A
 * received batch advances the local TATs as if the use happened on arrival.
 *
 * Error bound (docs/decisions/0004-rate-limit-algorithm.md): a worker cannot see what its
 * peers admitted in the last P = flushInterval + IPC delay, so over any span the node
 * admits at most what one limiter would plus, per other worker, what that worker admitted
 * in P for the key (≤ burst + P/T, and ≈ P/T·load share once the key is busy).
 */
import { LocalCounterStore, type LocalStoreOptions } from '../local/index.ts';
import type { CounterStore, Decision, RateCounter, RateRule } from '../store.ts';
import { DELTA_TYPE, isDeltaMessage, processChannel, type Channel, type DeltaMessage } from './protocol.ts';

export interface WorkerStoreOptions extends LocalStoreOptions {
  channel?: Channel;
  /** ms between batches (default 50). */
  flushInterval?: number;
  /** The time scale of acquire()'s `now` (default performance.now); tests pass their own. */
  clock?: () => number;
}

export class WorkerCounterStore implements CounterStore {
  readonly kind = 'workers';
  private readonly local: LocalCounterStore;
  /** rule id → key → units used here since the last batch. */
  private readonly pending = new Map<string, Map<string, number>>();
  private readonly channel: Channel;
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;

  constructor(opts: WorkerStoreOptions = {}) {
    this.local = new LocalCounterStore(opts);
    this.channel = opts.channel ?? processChannel();
    const clock = opts.clock ?? (() => performance.now());
    this.unsubscribe = this.channel.onMessage((m) => { if (isDeltaMessage(m)) this.receive(m, clock()); });
    this.timer = setInterval(() => this.flush(), opts.flushInterval ?? 50);
    this.timer.unref();
  }

  open(rule: RateRule): RateCounter {
    let p = this.pending.get(rule.id);
    if (!p) { p = new Map(); this.pending.set(rule.id, p); }
    return new WorkerCounter(this.local.open(rule), p);
  }

  /** Send what was used since the last batch (called by the timer; public for tests). */
  flush(): void {
    let rules: DeltaMessage['rules'] | undefined;
    for (const [id, p] of this.pending) {
      if (!p.size) {
        if (!this.local.table(id)) this.pending.delete(id); // rule no longer used here
        continue;
      }
      const keys: string[] = [];
      const units: number[] = [];
      for (const [k, u] of p) if (u !== 0) { keys.push(k); units.push(u); }
      p.clear();
      if (keys.length) (rules ??= []).push([id, keys, units]);
    }
    if (rules) this.channel.send({ type: DELTA_TYPE, from: process.pid, rules });
  }

  /** Apply a peer's batch (public for tests). Rules this worker does not run are ignored. */
  receive(m: DeltaMessage, now: number): void {
    for (const entry of m.rules) {
      if (!Array.isArray(entry)) continue;
      const [id, keys, units] = entry;
      const table = typeof id === 'string' ? this.local.table(id) : undefined;
      if (!table || !Array.isArray(keys) || !Array.isArray(units)) continue;
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        const u = units[i];
        if (typeof k === 'string' && typeof u === 'number' && Number.isFinite(u)) table.advance(k, u, now);
      }
    }
  }

  sweep(now: number): void { this.local.sweep(now); }

  close(): void {
    this.flush();
    clearInterval(this.timer);
    this.unsubscribe();
  }
}

class WorkerCounter implements RateCounter {
  private readonly inner: RateCounter;
  private readonly pending: Map<string, number>;

  constructor(inner: RateCounter, pending: Map<string, number>) {
    this.inner = inner;
    this.pending = pending;
  }

  acquire(key: string, cost: number, now: number, out: Decision): boolean {
    if (!this.inner.acquire(key, cost, now, out)) return false;
    this.pending.set(key, (this.pending.get(key) ?? 0) + cost);
    return true;
  }

  refund(key: string, cost: number, now: number): void {
    this.inner.refund(key, cost, now);
    this.pending.set(key, (this.pending.get(key) ?? 0) - cost);
  }

  get size(): number { return this.inner.size; }
  get evictions(): { readonly idle: number; readonly cap: number } { return this.inner.evictions; }
  close(): void { this.inner.close(); }
}
