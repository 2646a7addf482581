/**
 * The consumer index: built once per distinct `consumers` object and shared by every
 * authentication policy instance of every route (never copied per route). A reload whose
 * consumers did not change hands the same object in (pipeline/compile.ts carries unchanged
 * config objects over), so the index is reused as is; when some consumers changed, the new
 * index starts from a copy of the previous one's key map and redoes only the consumers that
 * changed or went away.
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

export interface KeyEntry { hex: string; identity: ConsumerIdentity }

type Consumers = Readonly<Record<string, Consumer>>;

const EMPTY: Consumers = Object.freeze({});

export class ConsumerIndex {
  /** How many indexes were ever built (tests check that routes share one). */
  static built = 0;
  readonly consumers: Consumers;
  readonly keys: ReadonlyMap<string, KeyEntry>;
  /** Set when two consumers share a key; key-auth refuses the config with it. */
  readonly conflict: string | undefined;
  #groups: Map<string, string[]> | undefined;
  #extra = new Map<string, unknown>();

  constructor(consumers: Consumers, keys: Map<string, KeyEntry>, conflict: string | undefined) {
    ConsumerIndex.built++;
    this.consumers = consumers;
    this.keys = keys;
    this.conflict = conflict;
  }

  /** Names of the consumers in a group (built for all groups on first use). */
  groupMembers(group: string): readonly string[] {
    if (this.#groups === undefined) {
      const g = new Map<string, string[]>();
      for (const name in this.consumers) {
        for (const x of this.consumers[name]!.groups ?? []) {
          let list = g.get(x);
          if (list === undefined) g.set(x, (list = []));
          list.push(name);
        }
      }
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

function addKeys(keys: Map<string, KeyEntry>, name: string, c: Consumer): string | undefined {
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
  return new ConsumerIndex(c, keys, conflict);
}

/** Copy the previous key map, then remove and re-add only the consumers that differ. */
function incremental(c: Consumers, prev: ConsumerIndex): ConsumerIndex {
  if (prev.conflict !== undefined) return fullBuild(c);
  const old = prev.consumers;
  const changed: string[] = [];
  const gone: string[] = [];
  for (const name in c) {
    const o = Object.hasOwn(old, name) ? old[name] : undefined;
    if (o === undefined || (o !== c[name] && !sameJson(o, c[name]))) changed.push(name);
  }
  for (const name in old) if (!Object.hasOwn(c, name)) gone.push(name);
  // Past a tenth of the table, a fresh build is as cheap as the copy and the patching.
  if (changed.length + gone.length > 1000 && (changed.length + gone.length) * 10 > Object.keys(c).length) return fullBuild(c);
  const keys = new Map(prev.keys);
  for (const name of [...changed, ...gone]) {
    for (const k of old[name]?.keys ?? []) {
      const hex = k.slice('sha256:'.length).toLowerCase();
      if (keys.get(hex)?.identity.name === name) keys.delete(hex);
    }
  }
  let conflict: string | undefined;
  for (const name of changed) conflict ??= addKeys(keys, name, c[name]!);
  return new ConsumerIndex(c, keys, conflict);
}
