/**
 * Structural equality of JSON-shaped config values (objects, arrays, strings, numbers,
 * booleans, null), key order ignored. Reloads use it to find what did not change, so the
 * unchanged object of the running config can stand in for the new one and every cache keyed
 * by object identity (compiled routes, consumer index, validation results) keeps hitting.
 * Iterative: a deeply nested document cannot overflow the stack.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const left: unknown[] = [a];
  const right: unknown[] = [b];
  while (left.length) {
    const x = left.pop();
    const y = right.pop();
    if (x === y) continue;
    if (x === null || y === null || typeof x !== 'object' || typeof y !== 'object') return false;
    const xa = Array.isArray(x);
    if (xa !== Array.isArray(y)) return false;
    if (xa) {
      const ya = y as unknown[];
      if (x.length !== ya.length) return false;
      for (let i = 0; i < x.length; i++) { left.push(x[i]); right.push(ya[i]); }
      continue;
    }
    const xo = x as Record<string, unknown>;
    const yo = y as Record<string, unknown>;
    let n = 0;
    for (const k in xo) {
      if (!Object.hasOwn(yo, k)) return false;
      left.push(xo[k]);
      right.push(yo[k]);
      n++;
    }
    for (const _ in yo) n--;
    if (n !== 0) return false;
  }
  return true;
}

/**
 * `next` with every member (one level down) that equals the one of the same name in `prev`
 * replaced by prev's object; prev itself when nothing differs. Returns how many members
 * were new or changed, and how many of prev's are gone.
 */
export function carryMembers<T>(next: Record<string, T> | undefined, prev: Record<string, T> | undefined): { value: Record<string, T> | undefined; changed: number; removed: number } {
  // Only a mapping is carried over: anything else stays as it came, for validation to report.
  if (next === null || typeof next !== 'object' || Array.isArray(next) || prev === null || typeof prev !== 'object' || Array.isArray(prev)) return { value: next, changed: 0, removed: 0 };
  if (next === prev) return { value: next, changed: next === prev || next === undefined ? 0 : Object.keys(next).length, removed: 0 };
  let changed = 0;
  let kept = 0;
  // A new mapping is made only when some member must be replaced by prev's equal object; when
  // every member is prev's own or really changed, next itself stands (a source that keeps its
  // unchanged items, like the file source's JSON reader, then sees its own mapping again).
  let out: Record<string, T> | undefined;
  let i = 0;
  for (const k in next) {
    // An own '__proto__' (JSON.parse makes one) assigned to a plain object would set its prototype.
    if (k === '__proto__') return { value: next, changed: Object.keys(next).length, removed: 0 };
    const n = next[k] as T;
    const p = Object.hasOwn(prev, k) ? prev[k] : undefined;
    if (p !== undefined && (n === p || sameJson(n, p))) {
      kept++;
      if (n !== p && out === undefined) {
        out = {};
        let j = 0;
        for (const k2 in next) { if (j++ === i) break; out[k2] = next[k2] as T; }
      }
      if (out !== undefined) out[k] = p;
    } else {
      changed++;
      if (out !== undefined) out[k] = n;
    }
    i++;
  }
  let total = 0;
  for (const _ in prev) total++;
  const removed = total - kept;
  return changed === 0 && removed === 0 ? { value: prev, changed, removed } : { value: out ?? next, changed, removed };
}
