/**
 * The in-memory counter store: one GCRA table per rule id, shared by every snapshot that
 * opens the same id (a reload keeps the counts), dropped when the last user closes it.
 * One timer sweeps expired keys for all tables; it is unref'd so it never holds a process.
 */
import { GcraTable } from '../gcra.ts';
import type { CounterStore, Decision, RateCounter, RateRule } from '../store.ts';

export interface LocalStoreOptions {
  /** How often expired keys are dropped (ms, default 1000). */
  sweepInterval?: number;
}

interface Entry { table: GcraTable; refs: number }

export class LocalCounterStore implements CounterStore {
  readonly kind: string = 'local';
  private readonly entries = new Map<string, Entry>();
  private readonly sweepInterval: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: LocalStoreOptions = {}) {
    this.sweepInterval = opts.sweepInterval ?? 1000;
  }

  open(rule: RateRule): RateCounter {
    let e = this.entries.get(rule.id);
    if (!e) {
      e = { table: new GcraTable(rule), refs: 0 };
      this.entries.set(rule.id, e);
    }
    e.refs++;
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(performance.now()), this.sweepInterval);
      this.timer.unref();
    }
    return new LocalCounter(this, rule.id, e.table);
  }

  /** The table of a rule id, when some snapshot uses it (peers' reports for other ids are ignored). */
  table(id: string): GcraTable | undefined { return this.entries.get(id)?.table; }

  sweep(now: number): void {
    for (const e of this.entries.values()) e.table.sweep(now);
  }

  /** Called by LocalCounter.close(). */
  release(id: string): void {
    const e = this.entries.get(id);
    if (!e || --e.refs > 0) return;
    this.entries.delete(id);
    if (!this.entries.size && this.timer) { clearInterval(this.timer); this.timer = undefined; }
  }
}

class LocalCounter implements RateCounter {
  private readonly store: LocalCounterStore;
  private readonly id: string;
  private readonly t: GcraTable;
  private closed = false;

  constructor(store: LocalCounterStore, id: string, table: GcraTable) {
    this.store = store;
    this.id = id;
    this.t = table;
  }

  acquire(key: string, cost: number, now: number, out: Decision): boolean { return this.t.acquire(key, cost, now, out); }
  refund(key: string, cost: number, now: number): void { this.t.refund(key, cost, now); }
  get size(): number { return this.t.size; }
  get evictions(): { idle: number; cap: number } { return { idle: this.t.evictedIdle, cap: this.t.evictedCap }; }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.store.release(this.id);
  }
}
