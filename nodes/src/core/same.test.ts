import test from 'ava';
import { carryMembers, sameJson } from './same.ts';

test('sameJson: structural, key order ignored, arrays in order, types strict', (t) => {
  t.true(sameJson({ a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 }));
  t.false(sameJson({ a: 1 }, { a: 1, b: undefined }));
  t.false(sameJson([1, 2], [2, 1]));
  t.false(sameJson({ a: '1' }, { a: 1 }));
  t.false(sameJson({ a: [] }, { a: {} }));
  t.false(sameJson(null, {}));
  // Deep nesting is walked without recursion.
  let a: unknown = 1;
  let b: unknown = 1;
  for (let i = 0; i < 100_000; i++) { a = [a]; b = [b]; }
  t.true(sameJson(a, b));
});

test('carryMembers: unchanged members become the previous objects; nothing changed gives prev itself', (t) => {
  const prev = { x: { v: 1 }, y: { v: 2 } };
  const same = carryMembers({ x: { v: 1 }, y: { v: 2 } }, prev);
  t.is(same.value, prev);
  const next = carryMembers({ x: { v: 1 }, y: { v: 3 }, z: { v: 4 } }, prev);
  t.is(next.value!.x, prev.x);
  t.not(next.value!.y, prev.y);
  t.deepEqual([next.changed, next.removed], [2, 1]);
  const gone = carryMembers({ x: { v: 1 } }, prev);
  t.not(gone.value, prev);
  t.deepEqual([gone.changed, gone.removed], [0, 1]);
});
