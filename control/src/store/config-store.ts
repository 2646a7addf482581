/**
 * The cluster config in etcd as the control plane sees it (contract "etcd layout"):
 * `<prefix>/{routes,upstreams,consumers}/<name>` hold the JSON of one item each.
 *
 * Writes are optimistic transactions (etcd's compare-and-swap): the caller reads the config
 * at revision R, decides what to write, and commits guarded by "nothing under the three
 * kinds was written after R". A range compare (`mod_revision < R+1` over each kind's prefix)
 * catches every put, by anyone; deletes leave nothing to compare, so every control-plane
 * write also bumps one marker key, `<prefix>/control/last-write`, in the same transaction
 * and the guard checks it too. Two admin API writes can therefore never interleave; a
 * delete made behind the control plane's back (etcdctl) is the one change it cannot see.
 */
import { Range, type Etcd3, type ICompare, type IKeyValue, type IRequestOp } from 'etcd3';

export const KINDS = ['upstreams', 'consumers', 'routes', 'protos'] as const;
export type Kind = (typeof KINDS)[number];

export function isKind(s: string): s is Kind {
  return (KINDS as readonly string[]).includes(s);
}

export interface StoredItem {
  kind: Kind;
  name: string;
  key: string;
  raw: string;
  /** The parsed JSON; absent when the stored text is not JSON (see parseError). */
  value?: unknown;
  parseError?: string;
  modRevision: number;
}

export interface StoredConfig {
  /** etcd's revision when this was read. */
  revision: number;
  items: Record<Kind, Map<string, StoredItem>>;
  /** The newest revision that changed the config: max of every item's and the marker's mod_revision. */
  configRevision: number;
}

export type WriteOp = { type: 'put'; key: string; value: string } | { type: 'delete'; key: string };

export interface CommitOptions {
  /** Only commit if the config is unchanged since this revision. */
  guard: number;
  /** Extra per-key conditions: the key's mod_revision must equal this (0 = must not exist). */
  expect?: Array<{ key: string; modRevision: number }>;
  /** What to record in the marker key (operation name, for whoever reads etcd by hand). */
  op: string;
  /** Recorded under `<prefix>/history/` in the same transaction (the write's audit trail). */
  history?: { who: string; changes: Array<{ action: string; kind: string; name: string }>; requestId?: string };
}

/** One recorded write: who, when, what; `revision` is the revision the write created. */
export interface HistoryEntry {
  revision: number;
  at: string;
  who: string;
  op: string;
  changes: Array<{ action: string; kind: string; name: string }>;
  requestId?: string;
}

/** Default number of history entries kept. */
export const DEFAULT_HISTORY = 50;

export type CommitResult = { ok: true; revision: number } | { ok: false; revision: number };

export interface NodeEntry {
  id: string;
  address: string;
  version: string;
  revision: number;
  startedAt: string;
  /** Status port (host:port), when the node reports it. */
  status: string;
  /** Heartbeat period the node reports (0 = an older node without heartbeats). */
  heartbeatMs: number;
  /** ISO time of the node's latest heartbeat ('' when it sends none). */
  lastHeartbeat: string;
  refused: { revision: number; errors: string[]; at: string } | null;
  skipped: Array<{ key: string; errors: string[] }>;
  etcd: { lastSeen: string | null; configFrom?: string } | null;
  nats: { connected: boolean; lastSeen: string | null } | null;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A membership value as the control plane reads it: every field checked, nothing trusted. */
export function nodeEntry(id: string, o: Record<string, unknown>): NodeEntry {
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  const num = (v: unknown) => (Number.isFinite(Number(v)) ? Number(v) : 0);
  const refused = isObj(o.refused) ? { revision: num(o.refused.revision), errors: strings(o.refused.errors), at: str(o.refused.at) } : null;
  const skipped = Array.isArray(o.skipped) ? o.skipped.filter(isObj).map((s) => ({ key: str(s.key), errors: strings(s.errors) })) : [];
  const etcd = isObj(o.etcd) ? { lastSeen: typeof o.etcd.lastSeen === 'string' ? o.etcd.lastSeen : null, ...(typeof o.etcd.configFrom === 'string' ? { configFrom: o.etcd.configFrom } : {}) } : null;
  const nats = isObj(o.nats) ? { connected: o.nats.connected === true, lastSeen: typeof o.nats.lastSeen === 'string' ? o.nats.lastSeen : null } : null;
  return {
    id, address: str(o.address), version: str(o.version), revision: num(o.revision), startedAt: str(o.startedAt),
    status: str(o.status), heartbeatMs: num(o.heartbeatMs), lastHeartbeat: str(o.lastHeartbeat), refused, skipped, etcd, nats,
  };
}

export interface ConfigStoreOptions {
  /** Called between the read and the commit of a write; tests use it to race a second writer. */
  beforeCommit?: () => Promise<void>;
  /** History entries kept (default 50); older ones are deleted after each write. */
  historyLimit?: number;
}

const b = (s: string) => Buffer.from(s);

export class ConfigStore {
  readonly prefix: string;
  readonly markerKey: string;
  readonly #root: string;
  readonly #client: Etcd3;
  readonly #opts: ConfigStoreOptions;

  constructor(client: Etcd3, prefix: string, opts: ConfigStoreOptions = {}) {
    const p = prefix.replace(/\/+$/, '');
    if (!p.startsWith('/')) throw new TypeError(`prefix must start with /: ${JSON.stringify(prefix)}`);
    this.prefix = p;
    this.#root = `${p}/`;
    this.markerKey = `${p}/control/last-write`;
    this.#client = client;
    this.#opts = opts;
  }

  key(kind: Kind, name: string): string {
    return `${this.#root}${kind}/${name}`;
  }

  #kindRange(kind: Kind): Range {
    return Range.prefix(`${this.#root}${kind}/`);
  }

  /** All three kinds and the marker, read in one transaction: one consistent revision. */
  async read(): Promise<StoredConfig> {
    const ranges: IRequestOp[] = KINDS.map((k) => {
      const r = this.#kindRange(k);
      return { request_range: { key: r.start, range_end: r.end } };
    });
    ranges.push({ request_range: { key: b(this.markerKey) } });
    const res = await this.#client.kv.txn({ compare: [], success: ranges, failure: [] });
    const items = { upstreams: new Map(), consumers: new Map(), routes: new Map(), protos: new Map() } as StoredConfig['items'];
    let configRevision = 0;
    KINDS.forEach((kind, i) => {
      const kvs: IKeyValue[] = res.responses[i]?.response_range?.kvs ?? [];
      const base = `${this.#root}${kind}/`;
      for (const kv of kvs) {
        const key = kv.key.toString();
        const raw = kv.value.toString();
        const item: StoredItem = { kind, name: key.slice(base.length), key, raw, modRevision: Number(kv.mod_revision) };
        try { item.value = JSON.parse(raw); } catch { item.parseError = 'stored value is not valid JSON'; }
        items[kind].set(item.name, item);
        configRevision = Math.max(configRevision, item.modRevision);
      }
    });
    const marker = res.responses[KINDS.length]?.response_range?.kvs?.[0];
    if (marker) configRevision = Math.max(configRevision, Number(marker.mod_revision));
    return { revision: Number(res.header.revision), items, configRevision };
  }

  /** Writes every op in one transaction, or nothing if the config changed since `guard`. */
  async commit(ops: WriteOp[], o: CommitOptions): Promise<CommitResult> {
    await this.#opts.beforeCommit?.();
    const after = String(o.guard + 1);
    const compare: ICompare[] = KINDS.map((k) => {
      const r = this.#kindRange(k);
      return { key: r.start, range_end: r.end, target: 'Mod', result: 'Less', mod_revision: after };
    });
    compare.push({ key: b(this.markerKey), target: 'Mod', result: 'Less', mod_revision: after });
    for (const e of o.expect ?? []) compare.push({ key: b(e.key), target: 'Mod', result: 'Equal', mod_revision: String(e.modRevision) });
    const success: IRequestOp[] = ops.map((op) => op.type === 'put'
      ? { request_put: { key: b(op.key), value: b(op.value) } }
      : { request_delete_range: { key: b(op.key) } });
    const at = new Date().toISOString();
    success.push({ request_put: { key: b(this.markerKey), value: b(JSON.stringify({ op: o.op, changes: ops.length, at })) } });
    if (o.history) {
      // The entry's revision is its key's create revision: the revision of this very transaction.
      const entry = { at, who: o.history.who, op: o.op, changes: o.history.changes, ...(o.history.requestId ? { requestId: o.history.requestId } : {}) };
      const id = `${at.replace(/[^0-9]/g, '')}-${Math.random().toString(36).slice(2, 8)}`;
      success.push({ request_put: { key: b(`${this.#root}history/${id}`), value: b(JSON.stringify(entry)) } });
    }
    const res = await this.#client.kv.txn({ compare, success, failure: [] });
    if (res.succeeded && o.history) await this.#trimHistory().catch(() => undefined); // best effort: the next write trims again
    return { ok: res.succeeded, revision: Number(res.header.revision) };
  }

  get historyLimit(): number { return this.#opts.historyLimit ?? DEFAULT_HISTORY; }

  async #historyKvs(keysOnly: boolean): Promise<IKeyValue[]> {
    const r = Range.prefix(`${this.#root}history/`);
    const res = await this.#client.kv.range({ key: r.start, range_end: r.end, keys_only: keysOnly });
    return [...res.kvs].sort((x, y) => Number(x.create_revision) - Number(y.create_revision));
  }

  async #trimHistory(): Promise<void> {
    const kvs = await this.#historyKvs(true);
    const extra = kvs.length - this.historyLimit;
    if (extra <= 0) return;
    const del: IRequestOp[] = kvs.slice(0, extra).map((kv) => ({ request_delete_range: { key: kv.key } }));
    await this.#client.kv.txn({ compare: [], success: del, failure: [] });
  }

  /** The recorded writes, oldest first. */
  async history(): Promise<HistoryEntry[]> {
    const out: HistoryEntry[] = [];
    for (const kv of await this.#historyKvs(false)) {
      let v: Record<string, unknown>;
      try { v = JSON.parse(kv.value.toString()) as Record<string, unknown>; } catch { continue; }
      out.push({
        revision: Number(kv.create_revision),
        at: String(v.at ?? ''), who: String(v.who ?? ''), op: String(v.op ?? ''),
        changes: Array.isArray(v.changes) ? v.changes as HistoryEntry['changes'] : [],
        ...(typeof v.requestId === 'string' ? { requestId: v.requestId } : {}),
      });
    }
    return out;
  }

  /**
   * The config as it was at `revision` (etcd keeps every revision until compacted); the
   * items only. Throws CompactedError when etcd no longer has it.
   */
  async readAt(revision: number): Promise<Record<Kind, Record<string, unknown>>> {
    const out = { upstreams: {}, consumers: {}, routes: {} } as Record<Kind, Record<string, unknown>>;
    for (const kind of KINDS) {
      const r = this.#kindRange(kind);
      const base = `${this.#root}${kind}/`;
      const res = await this.#client.kv.range({ key: r.start, range_end: r.end, revision: String(revision) });
      for (const kv of res.kvs) {
        try { out[kind][kv.key.toString().slice(base.length)] = JSON.parse(kv.value.toString()); } catch { /* not JSON then; left out */ }
      }
    }
    return out;
  }

  /** Every node listed under `<prefix>/nodes/` (membership keys), sorted by id; entries that are not JSON objects are left out. */
  async nodes(): Promise<{ revision: number; nodes: NodeEntry[] }> {
    const root = `${this.#root}nodes/`;
    const r = Range.prefix(root);
    const res = await this.#client.kv.range({ key: r.start, range_end: r.end });
    const nodes: NodeEntry[] = [];
    for (const kv of res.kvs) {
      let v: unknown;
      try { v = JSON.parse(kv.value.toString()); } catch { continue; }
      if (typeof v !== 'object' || v === null || Array.isArray(v)) continue;
      nodes.push(nodeEntry(kv.key.toString().slice(root.length), v as Record<string, unknown>));
    }
    nodes.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    return { revision: Number(res.header.revision), nodes };
  }
}
