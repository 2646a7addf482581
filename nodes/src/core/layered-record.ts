/**
 * A collection record (name → item) made from an earlier one plus a few changes, without
 * copying the earlier one. Every config edit used to hand the node a fresh plain object of the
 * whole kind: at 10,000 routes a ~0.4 MB hash table per route edit (6 MB per consumer edit at
 * 100,000 consumers), which V8 keeps in large-object space until a full collection, so RSS
 * rose with every edit between collections. A layered record is a frozen plain record (the
 * base, shared) under a small map of changes (the layer, copied per edit: at most FOLD_AT
 * entries); past that the source builds a plain record again.
 *
 * To every reader it is the record it stands for: property reads, `in`, `Object.hasOwn`,
 * `Object.keys` / `entries`, for-in and JSON.stringify see the same names (in the order a
 * rebuilt record would list them: the base's, then the added ones) and the same item objects;
 * writes fail as on a frozen object. It is a Proxy, so a reader that walks every item of a
 * large kind should use `itemNames` / `forEachItem`, which walk base and layer directly
 * (a Proxy for-in costs ~2.5x a plain one). Readers that key their caches by the record's
 * identity keep working: each edit is a new object, an unchanged kind the same one.
 */
const GONE: unique symbol = Symbol('gone');
type Item = unknown;
type Rec = Readonly<Record<string, Item>>;

interface Layers {
  readonly base: Rec;
  /** Names changed since `base`: the new item, or GONE for a name `base` has and this record lacks. */
  readonly layer: ReadonlyMap<string, Item>;
  /** Own names in order, made on first use. */
  names?: string[];
}

/** Changes a layer holds before the source folds them into a new plain record. */
export const FOLD_AT = 256;

const byTarget = new WeakMap<object, Layers>();
const byRecord = new WeakMap<object, Layers>();

function own(l: Layers, name: string): Item | typeof GONE {
  const v = l.layer.get(name);
  if (v !== undefined) return v;
  return Object.hasOwn(l.base, name) ? l.base[name] : GONE;
}

function namesOf(l: Layers): string[] {
  if (l.names) return l.names;
  const names: string[] = [];
  let gone = false;
  for (const v of l.layer.values()) if (v === GONE) { gone = true; break; }
  for (const name of Object.keys(l.base)) if (!gone || l.layer.get(name) !== GONE) names.push(name);
  for (const [name, v] of l.layer) if (v !== GONE && !Object.hasOwn(l.base, name)) names.push(name);
  return (l.names = names);
}

const refuse = (): boolean => false;

const handler: ProxyHandler<object> = {
  get(target, key, receiver) {
    if (typeof key === 'string') { const v = own(byTarget.get(target)!, key); if (v !== GONE) return v; }
    return Reflect.get(target, key, receiver);
  },
  has(target, key) {
    if (typeof key === 'string' && own(byTarget.get(target)!, key) !== GONE) return true;
    return Reflect.has(target, key);
  },
  ownKeys(target) { return namesOf(byTarget.get(target)!); },
  getOwnPropertyDescriptor(target, key) {
    if (typeof key !== 'string') return undefined;
    const v = own(byTarget.get(target)!, key);
    // Configurable: a Proxy may not report a non-configurable property its target lacks.
    return v === GONE ? undefined : { value: v, writable: false, enumerable: true, configurable: true };
  },
  set: refuse,
  defineProperty: refuse,
  deleteProperty: refuse,
  preventExtensions: refuse,
  setPrototypeOf: refuse,
};

function make(base: Rec, layer: Map<string, Item>): Rec {
  const target = {};
  const l: Layers = { base, layer };
  byTarget.set(target, l);
  const record = new Proxy(target, handler) as Rec;
  byRecord.set(record, l);
  return record;
}

/**
 * `prev` with `changes` applied (an item, or undefined for a removal), sharing prev's base; or
 * undefined when the layer would pass FOLD_AT (the caller builds a plain record instead).
 */
export function withChanges(prev: Rec, changes: ReadonlyMap<string, Item | undefined>): Rec | undefined {
  const l = byRecord.get(prev);
  const base = l ? l.base : prev;
  const layer = new Map(l?.layer);
  for (const [name, item] of changes) {
    // Back to what the base says (its own item, or absent): nothing to hold for that name.
    const asBase = Object.hasOwn(base, name) ? base[name] === item : item === undefined;
    if (asBase) layer.delete(name); else layer.set(name, item ?? GONE);
  }
  if (layer.size > FOLD_AT) return undefined;
  return make(base, layer);
}

/** Whether `record` is a layered record (for tests and diagnostics). */
export function isLayered(record: unknown): boolean {
  return record !== null && typeof record === 'object' && byRecord.has(record);
}

/** The record's own names, in order; walks base and layer directly for a layered record. */
export function itemNames(record: Rec): readonly string[] {
  const l = byRecord.get(record);
  return l ? namesOf(l) : Object.keys(record);
}

/** Calls `fn` for every item of the record, in order, without the Proxy's per-name cost. */
export function forEachItem<T>(record: Readonly<Record<string, T>>, fn: (name: string, item: T) => void): void {
  const l = byRecord.get(record);
  if (!l) { for (const name in record) fn(name, record[name]!); return; }
  for (const name of namesOf(l)) fn(name, own(l, name) as T);
}
