import test from 'ava';
import { validateConfig, validationStats } from './validate.ts';
import { lineageFrom, lineageOf, recordLineage } from '../core/lineage.ts';

/** A record derived from `base` as a source would hand it over: the unchanged items are base's objects. */
function derive<T extends Record<string, unknown>>(base: T, edit: Partial<Record<string, unknown>>, removed: string[] = []): T {
  const next: Record<string, unknown> = { ...base };
  for (const n of removed) delete next[n];
  Object.assign(next, edit);
  recordLineage(next, { base, changed: Object.keys(edit), removed });
  return next as T;
}

function table(n: number): { upstreams: Record<string, unknown>; routes: Record<string, unknown>; consumers: Record<string, unknown> } {
  const upstreams: Record<string, unknown> = { a: { targets: [{ url: 'http://127.0.0.1:1' }] }, b: { targets: [{ url: 'http://127.0.0.1:2' }] } };
  const routes: Record<string, unknown> = {};
  const consumers: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    routes[`r${i}`] = { match: { paths: [`/r${i}`] }, upstream: i % 2 ? 'a' : 'b' };
    consumers[`c${i}`] = { keys: [`sha256:${i.toString(16).padStart(64, '0')}`] };
  }
  return { upstreams, routes, consumers };
}

test('after a clean record, an edit checks the changed items only, and still finds their errors', (t) => {
  const doc = table(2000);
  t.deepEqual(validateConfig(doc), []);
  const before = validationStats.itemsChecked;
  const visited = validationStats.itemsVisited;
  const routes = derive(doc.routes, { r5: { match: { paths: ['/five'] }, upstream: 'ghost' }, 'bad name!': { match: { paths: ['/x'] }, upstream: 'a' } });
  const errs = validateConfig({ ...doc, routes }).map((e) => `${e.path}: ${e.message}`);
  t.true(validationStats.itemsVisited - visited <= 4, `visited ${validationStats.itemsVisited - visited} items for a two-item edit`);
  t.true(errs.includes('routes.r5.upstream: unknown upstream "ghost"'), errs.join('\n'));
  t.true(errs.some((e) => e.startsWith('routes: invalid name "bad name!"')), errs.join('\n'));
  // The same errors as a full pass over a record nobody derived.
  t.deepEqual(validateConfig({ ...doc, routes: { ...routes } }).map((e) => `${e.path}: ${e.message}`).sort(), [...errs].sort());
  t.is(validationStats.itemsChecked - before, 2, 'two items checked, not two thousand (the full pass after reuses them)');
});

test('a removed upstream that routes still name is found; an added one needs no walk', (t) => {
  const doc = table(500);
  t.deepEqual(validateConfig(doc), []);
  const more = derive(doc.upstreams, { c: { targets: [{ url: 'http://127.0.0.1:3' }] } });
  t.deepEqual(validateConfig({ ...doc, upstreams: more }), []);
  const fewer = derive(more, {}, ['a']);
  const errs = validateConfig({ ...doc, upstreams: fewer });
  t.is(errs.length, 250);
  t.true(errs.every((e) => e.message === 'unknown upstream "a"'));
});

test('a key claimed by a changed consumer is found against the unchanged ones, edit after edit', (t) => {
  const doc = table(1000);
  t.deepEqual(validateConfig(doc), []);
  const c7 = (doc.consumers.c7 as { keys: string[] }).keys[0]!;
  // Edit 1: a new consumer with c7's key (upper-case hex: digests compare case-blind).
  const one = derive(doc.consumers, { thief: { keys: [c7.toUpperCase().replace('SHA256', 'sha256')] } });
  const visited = validationStats.itemsVisited;
  t.deepEqual(validateConfig({ ...doc, consumers: one }).map((e) => e.path), ['consumers.thief.keys[0]']);
  t.true(validationStats.itemsVisited - visited <= 2, 'the thousand unchanged consumers are not walked');
  // Edit 2 from the clean record: c7 itself goes, and another takes its key: no conflict.
  const two = derive(doc.consumers, { heir: { keys: [c7] } }, ['c7']);
  t.deepEqual(validateConfig({ ...doc, consumers: two }), []);
  // Edit 3 from edit 2 (the owner map moved on to it): c8 changes its key to the heir's.
  const three = derive(two, { c8: { keys: [c7] } });
  t.deepEqual(validateConfig({ ...doc, consumers: three }).map((e) => e.path), ['consumers.c8.keys[0]']);
  // A second record from the same base (its map already lent on) takes the full pass and finds
  // the clash too (which of the two it names follows the record's order, as in any full pass).
  const other = derive(two, { c9: { keys: [c7] } });
  const errs = validateConfig({ ...doc, consumers: other });
  t.is(errs.length, 1);
  t.regex(`${errs[0]!.path}: ${errs[0]!.message}`, /^consumers\.(c9|heir)\.keys\[0\]: the same key is also a key of consumer "(heir|c9)"$/);
});

test('an edit after a record with errors is checked in full', (t) => {
  const doc = table(100);
  const bad = derive(doc.routes, { r1: { match: { paths: ['/r1'] }, upstream: 'ghost' } });
  t.is(validateConfig({ ...doc, routes: bad }).length, 1);
  // Fixing r1 in the next record: the full pass has nothing left to report.
  const fixed = derive(bad, { r1: { match: { paths: ['/r1'] }, upstream: 'a' } });
  t.deepEqual(validateConfig({ ...doc, routes: fixed }), []);
  // ...while a record that leaves r1 broken and changes r2 still reports r1.
  const still = derive(bad, { r2: { match: { paths: ['/r2'] }, upstream: 'a' } });
  t.deepEqual(validateConfig({ ...doc, routes: still }).map((e) => e.path), ['routes.r1.upstream']);
});

test('lineageFrom folds a chain of records, and gives up past an unknown base', (t) => {
  const r0 = Object.freeze({ a: 1, b: 2, c: 3 }) as Record<string, unknown>;
  const r1 = derive(r0, { d: 4 }, ['a']);
  const r2 = derive(r1, { a: 5, e: 6 }, ['d']);
  const r3 = derive(r2, { b: 7 }, ['e']);
  const l = lineageFrom(r3, r0)!;
  t.deepEqual([...l.changed].sort(), ['a', 'b']);
  t.deepEqual(l.removed, []);
  t.is(lineageFrom(r3, r2)!.changed.length, 1);
  t.is(lineageFrom(r3, { a: 1 }), undefined);
  t.is(lineageOf({}), undefined);
  const removedOnly = derive(r0, {}, ['c']);
  t.deepEqual(lineageFrom(derive(removedOnly, { z: 1 }), r0)!.removed, ['c']);
});
