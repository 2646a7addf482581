/**
 * The consumer index: built once per distinct `consumers` object and shared by every
 * authentication policy instance of every route (never copied per route). A reload whose
 * consumers did not change hands the same object in (pipeline/compile.ts carries unchanged
 * config objects over), so the index is reused as is; when some consumers changed, the new
 * index shares the previous one's full key map and keeps its own small map of the keys that
 * differ on top (KeyTable), redoing only the consumers that changed or went away. Which ones
 * those are comes from the record's lineage (core/lineage.ts) when the source gave one, so a
 * one-consumer edit at 100,000 consumers touches one consumer, not a walk over all of them.
 *
 * - `keys`: sha256 hex digest → { digest, identity } for key-auth; a digest claimed by two
 *   consumers is a config error (Map lookup, not a pairwise scan).
 * - `groupMembers(group)`: consumer names per group, built on first use.
 * - `accounts()`: basic-auth's parsed password hashes, built on first use.
 * Identities are frozen once per consumer and method; their headers are prepared lazily by
 * identity.ts on the first request that authenticates as them.
 */
import type { ConsumerIdentity } from '../../request/context.ts';
import type { Consumer } from '../../schema/model.ts';
import { sameJson } from '../../core/same.ts';
import { forEachItem } from '../../core/layered-record.ts';
import { lineageFrom } from '../../core/lineage.ts';

export interface KeyEntry { hex: string; identity: ConsumerIdentity }

/** A key-auth lookup: the one call the request path makes. */
export interface KeyLookup { get(hex: string): KeyEntry | undefined }

/** Past this many differing keys on top of a shared map, the next index gets a flat map of its own. */
const LAYER_MAX = 4096;

/**
 * Digest → entry: a full map shared along a line of indexes, and this index's own keys that
 * differ from it (an entry, or null for a key that is gone). A lookup is one or two Map gets.
 */
export class KeyTable implements KeyLookup {
  readonly root: ReadonlyMap<string, KeyEntry>;
  readonly layer: Map<string, KeyEntry | null>;
  constructor(root: ReadonlyMap<string, KeyEntry>, layer: Map<string, KeyEntry | null> = new Map()) {
    this.root = root;
    this.layer = layer;
  }

  get(hex: string): KeyEntry | undefined {
    if (this.layer.size !== 0) {
      const e = this.layer.get(hex);
      if (e !== undefined) return e ?? undefined;
    }
    return this.root.get(hex);
  }

  set(hex: string, e: KeyEntry): void { this.layer.set(hex, e); }
  delete(hex: string): void { this.layer.set(hex, null); }

  /** Live keys (tests count them). */
  get size(): number {
    let n = this.root.size;
    for (const [hex, e] of this.layer) n += (e === null ? 0 : 1) - (this.root.has(hex) ? 1 : 0);
    return n;
  }
}
type Consumers = Readonly<Record<string, Consumer>>;

const EMPTY: Consumers = Object.freeze({});

export class ConsumerIndex {
  /** How many indexes were ever built (tests check that routes share one). */
  static built = 0;
  readonly consumers: Consumers;
  readonly keys: KeyTable;
  /** Set when two consumers share a key; key-auth refuses the config with it. */
  readonly conflict: string | undefined;
  #groups: Map<string, string[]> | undefined;
  #extra = new Map<string, unknown>();

  constructor(consumers: Consumers, keys: KeyTable, conflict: string | undefined) {
    ConsumerIndex.built++;
    this.consumers = consumers;
    this.keys = keys;
    this.conflict = conflict;
  }

  /** Names of the consumers in a group (built for all groups on first use). */
  groupMembers(group: string): readonly string[] {
    if (this.#groups === undefined) {
      const g = new Map<string, string[]>();
      // A layered record (an edit of a large kind) is walked through its parts, not the Proxy.
      forEachItem(this.consumers, (name, c) => {
        for (const x of c.groups ?? []) {
          let list = g.get(x);
          if (list === undefined) g.set(x, (list = []));
          list.push(name);
        }
      });
      this.#groups = g;
    }
    return this.#groups.get(group) ?? [];
  }

  /** A derived table built once per index (basic-auth's accounts): `build` runs on first use only. */
  derived<T>(name: string, build: (consumers: Consumers) => T): T {
    if (!this.#extra.has(name)) this.#extra.set(name, build(this.consumers));
    return this.#extra.get(name) as T;
  }
}

/** The frozen identity of a configured consumer for one authentication method. */
export function identityOf(name: string, c: Consumer | undefined, method: string): ConsumerIdentity {
  return Object.freeze({ name, groups: Object.freeze([...(c?.groups ?? [])]), method });
}

const byObject = new WeakMap<object, ConsumerIndex>();
/** The index built last: the base for an incremental build of the next one. */
let latest: ConsumerIndex | undefined;

export function consumerIndex(consumers: Consumers | undefined): ConsumerIndex {
  const c = consumers ?? EMPTY;
  let index = byObject.get(c);
  if (index === undefined) {
    index = latest === undefined ? fullBuild(c) : incremental(c, latest);
    byObject.set(c, index);
    latest = index;
  }
  return index;
}

function addKeys(keys: { get(hex: string): KeyEntry | undefined; set(hex: string, e: KeyEntry): void }, name: string, c: Consumer): string | undefined {
  if (!c.keys?.length) return undefined;
  const identity = identityOf(name, c, 'key-auth');
  let conflict: string | undefined;
  for (const k of c.keys) {
    const hex = k.slice('sha256:'.length).toLowerCase();
    const other = keys.get(hex);
    // One key, two consumers: whichever won would be an accident of map order.
    if (other !== undefined && other.identity.name !== name) conflict ??= `consumers.${name}.keys: the same key is also a key of consumer "${other.identity.name}"`;
    else keys.set(hex, { hex, identity });
  }
  return conflict;
}

function fullBuild(c: Consumers): ConsumerIndex {
  const keys = new Map<string, KeyEntry>();
  let conflict: string | undefined;
  for (const name in c) conflict ??= addKeys(keys, name, c[name]!);
  return new ConsumerIndex(c, new KeyTable(keys), conflict);
}

/** The consumers that differ from the previous index's: from the record's lineage, else by a walk over both. */
function differing(c: Consumers, old: Consumers): { changed: readonly string[]; gone: readonly string[] } {
  const l = lineageFrom(c, old);
  if (l !== undefined) return { changed: l.changed, gone: l.removed };
  const changed: string[] = [];
  const gone: string[] = [];
  for (const name in c) {
    const o = Object.hasOwn(old, name) ? old[name] : undefined;
    if (o === undefined || (o !== c[name] && !sameJson(o, c[name]))) changed.push(name);
  }
  for (const name in old) if (!Object.hasOwn(c, name)) gone.push(name);
  return { changed, gone };
}

/** The previous index's keys with only the consumers that differ taken out and put back in. */
function incremental(c: Consumers, prev: ConsumerIndex): ConsumerIndex {
  if (prev.conflict !== undefined) return fullBuild(c);
  const old = prev.consumers;
  const { changed, gone } = differing(c, old);
  const n = changed.length + gone.length;
  // Past a tenth of the table, a fresh build is as cheap as the patching.
  if (n > 1000 && n * 10 > prev.keys.root.size) return fullBuild(c);
  // The previous index's own layer is copied (it is small); a layer grown past LAYER_MAX is
  // folded into a new full map, once per that many changed keys.
  let keys = new KeyTable(prev.keys.root, new Map(prev.keys.layer));
  if (keys.layer.size > LAYER_MAX) {
    const flat = new Map(prev.keys.root);
    for (const [hex, e] of keys.layer) if (e === null) flat.delete(hex); else flat.set(hex, e);
    keys = new KeyTable(flat);
  }
  for (const list of [changed, gone]) {
    for (const name of list) {
      for (const k of (Object.hasOwn(old, name) ? old[name]?.keys : undefined) ?? []) {
        const hex = k.slice('sha256:'.length).toLowerCase();
        if (keys.get(hex)?.identity.name === name) keys.delete(hex);
      }
    }
  }
  let conflict: string | undefined;
  for (const name of changed) conflict ??= addKeys(keys, name, c[name]!);
  return new ConsumerIndex(c, keys, conflict);
}
