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
}

export type CommitResult = { ok: true; revision: number } | { ok: false; revision: number };

export interface NodeEntry {
  id: string;
  address: string;
  version: string;
  revision: number;
  startedAt: string;
}

export interface ConfigStoreOptions {
  /** Called between the read and the commit of a write; tests use it to race a second writer. */
  beforeCommit?: () => Promise<void>;
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
    success.push({ request_put: { key: b(this.markerKey), value: b(JSON.stringify({ op: o.op, changes: ops.length, at: new Date().toISOString() })) } });
    const res = await this.#client.kv.txn({ compare, success, failure: [] });
    return { ok: res.succeeded, revision: Number(res.header.revision) };
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
      const o = v as Record<string, unknown>;
      nodes.push({
        id: kv.key.toString().slice(root.length),
        address: typeof o.address === 'string' ? o.address : '',
        version: typeof o.version === 'string' ? o.version : '',
        revision: Number.isFinite(Number(o.revision)) ? Number(o.revision) : 0,
        startedAt: typeof o.startedAt === 'string' ? o.startedAt : '',
      });
    }
    nodes.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    return { revision: Number(res.header.revision), nodes };
  }
}
