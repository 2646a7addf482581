/**
 * How a source's collection record (routes, upstreams, consumers, protos) differs from the
 * one it handed over before: the names it added or replaced and the names it dropped. A
 * source that knows this (the etcd source from its watch events, the file source's JSON
 * reader from the bytes it compared) records it here, keyed by the new record; validation,
 * the consumer index and compile then do work in proportion to the change instead of
 * walking a hundred thousand unchanged items to find it.
 *
 * A reader uses a lineage only when it has its own result for `base` (kept by base's
 * identity); a record without one, or whose base it never saw, takes the full path. Every
 * name not listed is the same object in both records: a source must not record a lineage it
 * cannot vouch for. The base is held weakly: a chain of records never keeps old tables alive
 * (a hundred thousand consumers each), and a collected base just means the full path.
 */
export interface Lineage {
  /** The record this one was derived from (the source's previous one of the same kind). */
  readonly base: Readonly<Record<string, unknown>>;
  /** Names whose item is new or another object than in `base`. */
  readonly changed: readonly string[];
  /** Names in `base` that this record lacks. */
  readonly removed: readonly string[];
}

interface Stored { base: WeakRef<Readonly<Record<string, unknown>>>; changed: readonly string[]; removed: readonly string[] }
const lineages = new WeakMap<object, Stored>();

export function recordLineage(record: object, lineage: Lineage): void {
  lineages.set(record, { base: new WeakRef(lineage.base), changed: lineage.changed, removed: lineage.removed });
}

export function lineageOf(record: unknown): Lineage | undefined {
  const s = record !== null && typeof record === 'object' ? lineages.get(record) : undefined;
  const base = s?.base.deref();
  return base === undefined ? undefined : { base, changed: s!.changed, removed: s!.removed };
}

/**
 * Lineage of `record` from `from`, following the chain when the source made several records
 * in between that nobody read (a refused config, a burst). Undefined when `from` is not an
 * ancestor within `maxSteps` or the changes add up past `maxChanges`.
 */
export function lineageFrom(record: unknown, from: Readonly<Record<string, unknown>>, maxSteps = 8, maxChanges = 4096): Lineage | undefined {
  const first = lineageOf(record);
  if (first === undefined) return undefined;
  if (first.base === from) return first;
  // Every name any step touched; which records hold it decides at the end what it is.
  const touched = new Set([...first.changed, ...first.removed]);
  let l: Lineage | undefined = first;
  for (let step = 1; step < maxSteps; step++) {
    l = lineageOf(l.base);
    if (l === undefined) return undefined;
    for (const n of l.changed) touched.add(n);
    for (const n of l.removed) touched.add(n);
    if (touched.size > maxChanges) return undefined;
    if (l.base === from) {
      const rec = record as Record<string, unknown>;
      const changed: string[] = [];
      const removed: string[] = [];
      // Added then removed again: in neither record, so neither list.
      for (const n of touched) if (Object.hasOwn(rec, n)) changed.push(n); else if (Object.hasOwn(from, n)) removed.push(n);
      return { base: from, changed, removed };
    }
  }
  return undefined;
}
