import test from 'ava';
import { canonical, planApply, readDocument, referencesTo, upstreamRefs } from './plan.ts';
import type { StoredConfig, StoredItem, Kind } from '../store/config-store.ts';

function stored(items: Partial<Record<Kind, Record<string, unknown>>>, revision = 10): StoredConfig {
  const s: StoredConfig = { revision, configRevision: revision, items: { upstreams: new Map(), consumers: new Map(), routes: new Map(), protos: new Map() } };
  for (const [kind, m] of Object.entries(items) as Array<[Kind, Record<string, unknown>]>) {
    for (const [name, value] of Object.entries(m)) {
      const it: StoredItem = { kind, name, key: `/p/${kind}/${name}`, raw: JSON.stringify(value), value, modRevision: 5 };
      s.items[kind].set(name, it);
    }
  }
  return s;
}
const key = (k: Kind, n: string) => `/p/${k}/${n}`;
const up = { targets: [{ url: 'http://127.0.0.1:1' }] };

test('canonical: key order does not matter, array order does', (t) => {
  t.is(canonical({ b: 1, a: { d: 2, c: 3 } }), canonical({ a: { c: 3, d: 2 }, b: 1 }));
  t.not(canonical([1, 2]), canonical([2, 1]));
});

test('readDocument: null sections are empty, node is dropped with a note, the rest is an error', (t) => {
  const r = readDocument({ node: {}, routes: null, upstreams: { u: up } });
  t.deepEqual(r.doc, { routes: {}, upstreams: { u: up } });
  t.is(r.notes.length, 1);
  t.deepEqual(readDocument('x').errors, [{ path: '(root)', message: 'must be a mapping of upstreams, consumers and routes' }]);
  t.deepEqual(readDocument({ consumers: 3 }).errors, [{ path: 'consumers', message: 'must be a mapping of name to consumer' }]);
});

test('upstreamRefs: route.upstream, traffic-split and mirror', (t) => {
  const refs = upstreamRefs({ upstream: 'a', policies: { 'traffic-split': { upstreams: [{ name: 'b' }, { weight: 1 }] }, mirror: { upstream: 'c' } } });
  t.deepEqual(refs.map((r) => r.name), ['a', 'b', 'c']);
  t.deepEqual(referencesTo({ upstreams: {}, consumers: {}, protos: {}, routes: { r: { upstream: 'a' }, s: { upstream: 'b' } } }, 'a'), ['routes.r.upstream']);
  t.deepEqual(upstreamRefs(null), []);
});

test('planApply: added, changed, unchanged, kept; prune only the kinds in the document', (t) => {
  const s = stored({ upstreams: { u: up, old: up }, consumers: { c: {} } });
  const p = planApply(s, { upstreams: { u: { ...up, balance: 'least-request' }, n: up } }, false, key);
  t.deepEqual(p.changes.map((c) => `${c.action} ${c.key}`), ['changed /p/upstreams/u', 'added /p/upstreams/n']);
  t.deepEqual(p.kept, ['upstreams/old']);
  t.deepEqual(p.errors, []);
  const pruned = planApply(s, { upstreams: { u: up } }, true, key);
  t.deepEqual(pruned.changes.map((c) => `${c.action} ${c.key}`), ['removed /p/upstreams/old']);
  t.is(pruned.unchanged, 1);
  t.deepEqual(Object.keys(pruned.merged.consumers), ['c'], 'consumers not in the document: untouched');
});

test('planApply: validates the merged config, as cluster mode (registry discovery allowed)', (t) => {
  const s = stored({ upstreams: { u: up } });
  t.deepEqual(planApply(s, { routes: { r: { match: { paths: ['/'] }, upstream: 'u' } } }, false, key).errors, []);
  t.deepEqual(planApply(s, { upstreams: { d: { discovery: { service: 'users' } } } }, false, key).errors, []);
  t.deepEqual(planApply(s, { routes: { r: { match: { paths: ['/'] }, upstream: 'x' } } }, false, key).errors,
    [{ path: 'routes.r.upstream', message: 'unknown upstream "x"' }]);
});
