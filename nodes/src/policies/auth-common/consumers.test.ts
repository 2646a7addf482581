import test from 'ava';
import { consumerIndex } from './consumers.ts';
import { recordLineage } from '../../core/lineage.ts';
import { withChanges } from '../../core/layered-record.ts';
import type { Consumer } from '../../schema/model.ts';

const hexOf = (i: number): string => i.toString(16).padStart(64, '0');

test('edit after edit, the index layers its changes on one shared key map, and folds them into a new one past the limit', (t) => {
  let record: Record<string, Consumer> = {};
  for (let i = 0; i < 20_000; i++) record[`c${i}`] = { keys: [`sha256:${hexOf(i)}`] };
  const first = consumerIndex(record);
  const roots = new Set([first.keys.root]);
  let layers = 0;
  for (let edit = 1; edit <= 4; edit++) {
    // 1,000 consumers get a new key each: their old keys go, the new ones come.
    const next = { ...record };
    const changed: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const name = `c${(edit * 1000 + i) % 20_000}`;
      next[name] = { keys: [`sha256:${hexOf(100_000 * edit + i)}`] };
      changed.push(name);
    }
    recordLineage(next, { base: record, changed, removed: [] });
    const index = consumerIndex(next);
    roots.add(index.keys.root);
    layers = Math.max(layers, index.keys.layer.size);
    t.is(index.keys.get(hexOf(100_000 * edit + 7))?.identity.name, `c${edit * 1000 + 7}`);
    t.is(index.keys.get(hexOf(edit * 1000 + 7)), undefined, 'the replaced key is gone');
    t.is(index.keys.get(hexOf(19_999))?.identity.name, 'c19999');
    t.is(index.keys.size, 20_000);
    record = next;
  }
  t.true(layers <= 6000, `layers stay bounded (largest ${layers})`);
  t.is(roots.size, 2, 'one fold in four edits of 2,000 keys each (limit 4,096)');
});

test('a key claimed twice across the layer and the shared map is a conflict', (t) => {
  const record: Record<string, Consumer> = {};
  for (let i = 0; i < 100; i++) record[`c${i}`] = { keys: [`sha256:${hexOf(i)}`] };
  consumerIndex(record);
  const next = { ...record, thief: { keys: [`sha256:${hexOf(42)}`] } };
  recordLineage(next, { base: record, changed: ['thief'], removed: [] });
  t.regex(consumerIndex(next).conflict ?? '', /consumers\.thief\.keys: the same key is also a key of consumer "c42"/);
});

test('an index over a layered consumers record (an etcd edit of a large kind) finds keys and groups as over the plain record', (t) => {
  const base: Record<string, Consumer> = {};
  for (let i = 0; i < 2000; i++) base[`c${i}`] = { keys: [`sha256:${hexOf(i)}`], groups: [i % 2 ? 'odd' : 'even'] };
  Object.freeze(base);
  t.is(consumerIndex(base).groupMembers('odd').length, 1000);
  const changes = new Map<string, Consumer | undefined>([['c1', undefined], ['fresh', { keys: [`sha256:${hexOf(99_999)}`], groups: ['odd'] }]]);
  const next = withChanges(base, changes)! as Readonly<Record<string, Consumer>>;
  recordLineage(next, { base, changed: ['fresh'], removed: ['c1'] });
  const index = consumerIndex(next);
  t.is(index.keys.get(hexOf(99_999))?.identity.name, 'fresh');
  t.is(index.keys.get(hexOf(1)), undefined, 'the removed consumer\'s key is gone');
  const odd = index.groupMembers('odd');
  t.is(odd.length, 1000);
  t.true(odd.includes('fresh'));
  t.false(odd.includes('c1'));
  t.is(index.groupMembers('even').length, 1000);
});
