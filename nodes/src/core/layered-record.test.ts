import test from 'ava';
import { FOLD_AT, forEachItem, isLayered, itemNames, withChanges } from './layered-record.ts';

const item = (n: number): { n: number } => ({ n });

/** The plain record the same edits would rebuild: base order, changed names in place, added last. */
function rebuilt(base: Record<string, unknown>, changes: Map<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(base)) if (!changes.has(k)) out[k] = v; else if (changes.get(k) !== undefined) out[k] = changes.get(k);
  for (const [k, v] of changes) if (!Object.hasOwn(base, k) && v !== undefined) out[k] = v;
  return out;
}

test('a layered record reads as the record it stands for, through every way of reading one', (t) => {
  const base = Object.freeze({ a: item(1), b: item(2), c: item(3) });
  const changes = new Map<string, unknown>([['b', item(20)], ['c', undefined], ['d', item(4)]]);
  const r = withChanges(base, changes)!;
  const want = rebuilt(base, changes);
  t.true(isLayered(r));
  t.deepEqual(Object.keys(r), ['a', 'b', 'd']);
  t.deepEqual(Object.keys(r), Object.keys(want));
  t.deepEqual(Object.entries(r), Object.entries(want));
  t.is(JSON.stringify(r), JSON.stringify(want));
  const forIn: string[] = [];
  for (const k in r) forIn.push(k);
  t.deepEqual(forIn, ['a', 'b', 'd']);
  t.is(r.a, base.a, 'unchanged items are the same objects');
  t.is(r.b, changes.get('b'));
  t.is(r.c, undefined);
  t.true(Object.hasOwn(r, 'd'));
  t.false(Object.hasOwn(r, 'c'));
  t.true('a' in r);
  t.false('c' in r);
  // Inherited names behave as on a plain object, and are not items.
  t.false(Object.hasOwn(r, 'toString'));
  t.is(typeof (r as { toString?: unknown }).toString, 'function');
  t.deepEqual(itemNames(r), ['a', 'b', 'd']);
  const walked: Array<[string, unknown]> = [];
  forEachItem(r, (k, v) => walked.push([k, v]));
  t.deepEqual(walked, Object.entries(want));
});

test('a layered record cannot be written, like the frozen record it replaces', (t) => {
  const r = withChanges(Object.freeze({ a: item(1) }), new Map([['b', item(2)]]))! as Record<string, unknown>;
  t.throws(() => { 'use strict'; r.c = item(3); }, { instanceOf: TypeError });
  t.throws(() => { delete r.a; }, { instanceOf: TypeError });
  t.throws(() => Object.defineProperty(r, 'x', { value: 1 }), { instanceOf: TypeError });
  t.deepEqual(Object.keys(r), ['a', 'b']);
});

test('layers chain on one base, and an edit back to the base item leaves the layer', (t) => {
  const base = Object.freeze({ a: item(1), b: item(2) });
  const r1 = withChanges(base, new Map([['a', item(10)], ['x', item(9)]]))!;
  const r2 = withChanges(r1, new Map<string, unknown>([['a', base.a], ['x', undefined], ['b', undefined]]))!;
  t.deepEqual(Object.keys(r2), ['a']);
  t.is(r2.a, base.a);
  // r1 is untouched by the edit made from it.
  t.deepEqual(Object.keys(r1), ['a', 'b', 'x']);
  t.is((r1.a as { n: number }).n, 10);
  // Names added and removed again leave nothing behind: many more of them than a layer holds.
  let r: Readonly<Record<string, unknown>> | undefined = r2;
  for (let i = 0; i <= FOLD_AT; i++) {
    r = withChanges(r!, new Map([[`tmp${i}`, item(i)]]));
    r = withChanges(r!, new Map([[`tmp${i}`, undefined]]));
  }
  t.true(isLayered(r), 'the layer did not fill up');
  t.deepEqual(Object.keys(r!), ['a']);
  // Removed then added again: an item again, listed where a rebuild from the base lists it.
  const r3 = withChanges(r2, new Map([['b', item(22)]]))!;
  t.deepEqual(Object.keys(r3), ['a', 'b']);
});

test('past FOLD_AT changes the source gets undefined and builds a plain record', (t) => {
  const base = Object.freeze({ a: item(1) });
  let r: Readonly<Record<string, unknown>> | undefined = base;
  for (let i = 0; i < FOLD_AT; i++) r = withChanges(r!, new Map([[`n${i}`, item(i)]]));
  t.true(isLayered(r));
  t.is(itemNames(r!).length, FOLD_AT + 1);
  t.is(withChanges(r!, new Map([['one-more', item(0)]])), undefined);
  t.false(isLayered(base));
  t.deepEqual(itemNames(base), ['a']);
});
