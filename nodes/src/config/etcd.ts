/**
 * The cluster config source (contract "etcd layout"): every key under <prefix>/routes/,
 * <prefix>/upstreams/ and <prefix>/consumers/ is one item, the JSON of the same object as in
 * the file. Each key is validated on its own (architecture principle 5, as APISIX re-checks
 * etcd items): a bad key is skipped, logged and reported, and never takes the rest down.
 *
 * A bad key is dropped, not replaced by its last good value: every node then serves the same
 * function of etcd's state, whether it has been up for a month or just restarted.
 * Cross references (a route naming a missing upstream) are the node's compile step's job.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { ConfigSource, ConfigUpdate } from './source.ts';
import { GatewayConfig } from '../schema/model.ts';
import { validateItem } from '../validation/validate.ts';
import { createEtcdClient, PrefixWatch, type Change, type KeyValue } from '../cluster/etcd-client.ts';
import { recordLineage } from '../core/lineage.ts';
import { FOLD_AT, withChanges } from '../core/layered-record.ts';

const KINDS = ['routes', 'upstreams', 'consumers', 'protos'] as const;
type Kind = (typeof KINDS)[number];

export interface EtcdSourceOptions {
  endpoints: string[];
  /** Key prefix without trailing slash, e.g. `/gatehouse`. */
  prefix: string;
  logger: Logger;
  /** Called for each newly seen bad key (on load and on every bad put), e.g. to count it. */
  onSkipped?: (key: string, errors: string[]) => void;
  /** Share a client (membership, registry); the source then does not close it. */
  client?: Etcd3;
  /** start() rejects if the first load has not succeeded within this many ms (default 5000). */
  startTimeout?: number;
  /** At most one update per this many ms; changes within it go out as one (default 20). A change after a quiet spell is not delayed. */
  coalesceMs?: number;
  /** Kinds with at least this many items get a layered record after an edit instead of a copy (default 1024; core/layered-record.ts). */
  layerMin?: number;
  /** Deadline of each etcd call in ms (default 5000). */
  callTimeout?: number;
  /** Reload backoff bounds in ms after etcd failures (default 100 .. 2000). */
  retryMin?: number;
  retryMax?: number;
}

interface Entry {
  kind: Kind;
  name: string;
  raw: string;
  value?: unknown;
  errors?: string[];
}

/** Name pattern of each collection, read from the model so there is one definition of a name. */
function namePattern(kind: Kind): RegExp | undefined {
  const record = (GatewayConfig as { properties?: Record<string, { patternProperties?: Record<string, unknown> }> }).properties?.[kind];
  const source = Object.keys(record?.patternProperties ?? {})[0];
  return source ? new RegExp(source) : undefined;
}
const NAME_PATTERNS = new Map(KINDS.map((k) => [k, namePattern(k)]));

export class EtcdSource implements ConfigSource {
  readonly kind = 'etcd';
  /** The etcd revision of the config last handed to onUpdate (0 before the first). */
  revision = 0;
  readonly #opts: EtcdSourceOptions;
  readonly #root: string;
  readonly #client: Etcd3;
  readonly #ownClient: boolean;
  readonly #log: Logger;
  readonly #watch: PrefixWatch;
  #entries = new Map<string, Entry>();
  /** The same entries by kind, so rebuilding one collection walks that kind only (10k routes, not 111k keys)... */
  #byKind = new Map<Kind, Map<string, Entry>>(KINDS.map((k) => [k, new Map()]));
  /** ...and the keys whose value failed validation, reported with every update. */
  #errored = new Set<string>();
  /** Collections handed over last time, and the kinds changed since (their collection is rebuilt on the next flush). */
  #records = new Map<Kind, Readonly<Record<string, unknown>>>();
  #dirty = new Set<Kind>(KINDS);
  /** Item names the watch events touched per kind since the last update: the new record's lineage (core/lineage.ts)... */
  #touched = new Map<Kind, Set<string>>(KINDS.map((k) => [k, new Set()]));
  /** ...unless a full reload changed that kind, which says nothing about which names. */
  #reloaded = new Set<Kind>(KINDS);
  #onUpdate: ((u: ConfigUpdate) => void) | undefined;
  #pendingRevision = 0;
  #timer: NodeJS.Timeout | undefined;
  #lastFlushAt = -Infinity;
  #loaded: { resolve(): void; reject(err: Error): void } | undefined;
  #emitted = false;
  #stopped = false;

  constructor(opts: EtcdSourceOptions) {
    this.#opts = opts;
    this.#root = `${opts.prefix.replace(/\/+$/, '')}/`;
    this.#log = opts.logger.child({ source: 'etcd' });
    this.#ownClient = !opts.client;
    this.#client = opts.client ?? createEtcdClient(opts.endpoints, { callTimeout: opts.callTimeout });
    this.#watch = new PrefixWatch(this.#client, this.#root, {
      onSnapshot: (kvs, rev) => this.#onSnapshot(kvs, rev),
      onChanges: (changes, rev) => this.#onChanges(changes, rev),
    }, { logger: this.#log, callTimeout: opts.callTimeout, retryMin: opts.retryMin, retryMax: opts.retryMax });
  }

  /** Full reloads so far (after a compaction or a lost connection). */
  get reloads(): number { return this.#watch.reloads; }

  /**
   * Resolves after the first load has been handed to onUpdate. If etcd does not answer within
   * `startTimeout` it rejects, so the node can serve its snapshot, but keeps retrying: updates
   * flow once etcd answers. Call stop() to give up.
   */
  start(onUpdate: (u: ConfigUpdate) => void): Promise<void> {
    if (this.#onUpdate) return Promise.reject(new Error('EtcdSource already started'));
    this.#onUpdate = onUpdate;
    const ms = this.#opts.startTimeout ?? 5000;
    return new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => {
        clearTimeout(timer);
        this.#loaded = undefined;
        if (err) reject(err); else resolve();
      };
      const timer = setTimeout(() => settle(new Error(`etcd (${this.#opts.endpoints.join(', ')}) did not answer within ${ms} ms; still retrying`)), ms);
      this.#loaded = { resolve: () => settle(), reject: settle };
      this.#watch.start();
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#loaded?.reject(new Error('EtcdSource stopped before the first load'));
    await this.#watch.stop();
    if (this.#ownClient) this.#client.close();
  }

  #onSnapshot(kvs: KeyValue[], revision: number): void {
    const next = new Map<string, Entry>();
    for (const kv of kvs) {
      const prev = this.#entries.get(kv.key);
      // Unchanged keys keep their parsed entry: no re-validation, no repeated skip report.
      const entry = prev && prev.raw === kv.value ? prev : this.#parse(kv.key, kv.value);
      if (entry) next.set(kv.key, entry);
    }
    const changed = next.size !== this.#entries.size || [...next].some(([k, e]) => this.#entries.get(k) !== e);
    if (changed) for (const k of KINDS) { this.#dirty.add(k); this.#reloaded.add(k); }
    this.#entries = next;
    for (const m of this.#byKind.values()) m.clear();
    this.#errored.clear();
    for (const [key, e] of next) this.#index(key, e);
    if (!this.#emitted) {
      // First load (maybe after a timed-out start): hand it over now, so start() resolves
      // with the config applied.
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#pendingRevision = revision;
      this.#flush();
      this.#loaded?.resolve();
    } else if (changed) {
      this.#schedule(revision);
    }
  }

  #index(key: string, e: Entry): void {
    this.#byKind.get(e.kind)!.set(key, e);
    if (e.errors) this.#errored.add(key);
    else this.#errored.delete(key);
  }

  #onChanges(changes: Change[], revision: number): void {
    let relevant = false;
    for (const c of changes) {
      if (c.type === 'delete') {
        const gone = this.#entries.get(c.key);
        if (gone) { this.#entries.delete(c.key); this.#byKind.get(gone.kind)!.delete(c.key); this.#errored.delete(c.key); this.#dirty.add(gone.kind); this.#touched.get(gone.kind)!.add(gone.name); relevant = true; }
        continue;
      }
      const entry = this.#parse(c.key, c.value);
      if (entry) { this.#entries.set(c.key, entry); this.#index(c.key, entry); this.#dirty.add(entry.kind); this.#touched.get(entry.kind)!.add(entry.name); relevant = true; }
    }
    // Node and registry keys live under the same prefix; their churn is not a config change.
    if (relevant) this.#schedule(revision);
  }

  /** Parses and validates one key; undefined for keys that are not config items. */
  #parse(key: string, raw: string): Entry | undefined {
    const rest = key.slice(this.#root.length);
    const slash = rest.indexOf('/');
    const kind = rest.slice(0, slash) as Kind;
    if (slash < 0 || !KINDS.includes(kind)) return undefined;
    const name = rest.slice(slash + 1);
    let errors: string[] | undefined;
    let value: unknown;
    const pattern = NAME_PATTERNS.get(kind);
    if (pattern && !pattern.test(name)) {
      errors = [`${kind}[${JSON.stringify(name)}]: name must be letters, digits, . _ - (at most 128), matching ${pattern.source}`];
    } else {
      try {
        value = JSON.parse(raw);
      } catch (err) {
        errors = [`${kind}.${name}: invalid JSON: ${(err as Error).message}`];
      }
      try {
        errors ??= validateItem(kind, name, value).map((e) => `${e.path}: ${e.message}`);
      } catch (err) {
        // A validator bug must not take the source down; the key is skipped like a bad one.
        errors = [`${kind}.${name}: could not be validated: ${(err as Error).message}`];
      }
    }
    if (!errors?.length) return { kind, name, raw, value: deepFreeze(value) };
    this.#log.warn({ key, errors }, `skipping invalid etcd key ${key}: ${errors.join('; ')}`);
    try { this.#opts.onSkipped?.(key, errors); } catch (err) { this.#log.error({ err }, 'onSkipped threw'); }
    return { kind, name, raw, errors };
  }

  /**
   * Coalescing with a leading edge: a change after a quiet spell goes out on the next turn of
   * the event loop (so the events of one watch message, or of several read together, make one
   * update), and changes within coalesceMs of the last update wait until that much time has
   * passed since it: one update per burst, at most one per coalesceMs, always the latest. A
   * lone edit is not delayed by the window; a burst costs one rebuild per window.
   */
  #schedule(revision: number): void {
    // Plain assignment: events arrive in order after a load, and a load is the truth as of its
    // revision even if etcd came back from a backup with a lower one.
    this.#pendingRevision = revision;
    if (this.#timer || this.#stopped) return;
    const wait = Math.max(0, this.#lastFlushAt + (this.#opts.coalesceMs ?? 20) - performance.now());
    this.#timer = setTimeout(() => { this.#timer = undefined; this.#flush(); }, wait);
  }

  /** The touched names of a kind with their item now (undefined: gone, or a bad put, which drops the name). */
  #changes(kind: Kind, names: ReadonlySet<string>): Map<string, unknown> {
    const byKey = this.#byKind.get(kind)!;
    const out = new Map<string, unknown>();
    for (const name of names) {
      const e = byKey.get(`${this.#root}${kind}/${name}`);
      out.set(name, e && !e.errors ? e.value : undefined);
    }
    return out;
  }

  /**
   * Hands over the current state. Each item is the object parsed when its key last changed
   * (deep-frozen: the receiver keeps it, and reuses everything keyed by it, across reloads),
   * and a collection none of whose keys changed since the last update is the same object as
   * then, so the node re-checks and recompiles only what the etcd events touched.
   */
  #flush(): void {
    if (this.#stopped || !this.#onUpdate) return;
    const t0 = this.#lastFlushAt = performance.now();
    const config: ConfigUpdate['config'] = {};
    const skipped: NonNullable<ConfigUpdate['skipped']> = [];
    const dirty = this.#dirty;
    this.#dirty = new Set();
    for (const kind of KINDS) {
      const base = this.#records.get(kind);
      if (!dirty.has(kind) && base) { (config as Record<string, unknown>)[kind] = base; continue; }
      const touched = this.#touched.get(kind)!;
      const incremental = base !== undefined && !this.#reloaded.has(kind);
      // A large kind after a few changes: the previous record plus a layer of them, not a copy
      // of every item (core/layered-record.ts); else (or past the layer's size) a plain record.
      let record = incremental && touched.size <= FOLD_AT && this.#byKind.get(kind)!.size >= (this.#opts.layerMin ?? 1024) ? withChanges(base, this.#changes(kind, touched)) : undefined;
      if (record === undefined) {
        const plain: Record<string, unknown> = {};
        for (const e of this.#byKind.get(kind)!.values()) if (!e.errors) plain[e.name] = e.value;
        record = Object.freeze(plain);
      }
      this.#records.set(kind, record);
      (config as Record<string, unknown>)[kind] = record;
      if (incremental) {
        const changed: string[] = [];
        const removed: string[] = [];
        // A bad put drops the name from the record (see the header): that is a removal.
        for (const name of touched) if (Object.hasOwn(record, name)) { if (record[name] !== base[name]) changed.push(name); } else if (Object.hasOwn(base, name)) removed.push(name);
        recordLineage(record, { base, changed, removed });
      }
      touched.clear();
      this.#reloaded.delete(kind);
    }
    for (const key of this.#errored) { const e = this.#entries.get(key); if (e?.errors) skipped.push({ key, errors: e.errors }); }
    this.revision = this.#pendingRevision;
    this.#emitted = true;
    try {
      this.#onUpdate({ config, revision: this.revision, skipped, stable: true, readMs: performance.now() - t0 });
    } catch (err) {
      this.#log.error({ err, revision: this.revision }, 'config update handler threw');
    }
  }
}

/** Freezes a parsed JSON value and everything in it (an explicit stack: no recursion on deep input). */
function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || Object.isFrozen(v)) continue;
    Object.freeze(v);
    for (const x of Object.values(v)) stack.push(x);
  }
  return value;
}
