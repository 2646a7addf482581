import test from 'ava';
import { JsonItemReader } from './json-items.ts';
import { lineageOf } from '../core/lineage.ts';

const doc = (routes: Record<string, unknown>, consumers: Record<string, unknown> = { a: { keys: ['sha256:' + '0'.repeat(64)] } }) =>
  JSON.stringify({ node: { listen: '127.0.0.1:1' }, upstreams: { u: { targets: [{ url: 'http://127.0.0.1:2' }] } }, consumers, routes }, null, 1);

test('a reread keeps the objects of items whose text did not change, and collections in which nothing changed', (t) => {
  const r = new JsonItemReader();
  const one = r.read(doc({ x: { match: { paths: ['/x'] }, upstream: 'u' }, y: { match: { paths: ['/y'] }, upstream: 'u' } })) as any;
  t.deepEqual(one, JSON.parse(doc({ x: { match: { paths: ['/x'] }, upstream: 'u' }, y: { match: { paths: ['/y'] }, upstream: 'u' } })));
  t.is(r.parsed, 4);
  const two = r.read(doc({ z: { match: { paths: ['/z'] }, upstream: 'u' }, x: { match: { paths: ['/x'] }, upstream: 'u' }, y: { match: { paths: ['/y2'] }, upstream: 'u' } })) as any;
  t.is(r.parsed, 2, 'only z and the changed y are parsed');
  t.is(two.routes.x, one.routes.x, 'x moved but is the same object');
  t.not(two.routes.y, one.routes.y);
  t.deepEqual(two.routes.y.match.paths, ['/y2']);
  t.is(two.consumers, one.consumers, 'an unchanged collection is the same object');
  t.is(two.upstreams, one.upstreams);
  t.deepEqual(Object.keys(two.routes), ['z', 'x', 'y'], 'file order is kept');
  const three = r.read(doc({ x: { match: { paths: ['/x'] }, upstream: 'u' } })) as any;
  t.deepEqual(Object.keys(three.routes), ['x'], 'removed items are gone');
  t.is(three.routes.x, one.routes.x);
  // Each new collection says what changed since the one read before (config/lineage.ts).
  const l2 = lineageOf(two.routes)!;
  t.is(l2.base, one.routes);
  t.deepEqual([...l2.changed].sort(), ['y', 'z'], 'x moved, not changed');
  t.deepEqual(l2.removed, []);
  const l3 = lineageOf(three.routes)!;
  t.is(l3.base, two.routes);
  t.deepEqual(l3.changed, []);
  t.deepEqual([...l3.removed].sort(), ['y', 'z']);
  t.is(lineageOf(three.consumers), undefined, 'an unchanged collection is the first one read: nothing to derive from');
});

test('what the reader does not accept goes to the whole-document parser: YAML, syntax errors, repeated names, __proto__', (t) => {
  const r = new JsonItemReader();
  t.is(r.read('routes: {}\n'), undefined);
  t.is(r.read('{"routes": {"a": {"match": {"paths": ["/a"]}} "b": {}}}'), undefined, 'missing comma between items');
  t.is(r.read('{"routes": {"a": {"match": {"paths": ["/a"]}}, "a": {}}}'), undefined, 'a repeated route name');
  t.is(r.read('{"routes": {"a": {"upstream": "u", "upstream": "v"}}}'), undefined, 'a repeated field inside an item');
  t.is(r.read('{"routes": {}, "routes": {}}'), undefined, 'a repeated collection');
  t.is(r.read('{"routes": {"__proto__": {}}}'), undefined);
  t.is(r.read('{"routes": {"a": {]}}'), undefined);
  t.is(r.read('{"routes": {}} trailing'), undefined);
  t.deepEqual(r.read(' {"routes": {"a\\u0062": {"x": [1, {"y": "}"}]}}, "node": null} '), { routes: { ab: { x: [1, { y: '}' }] } }, node: null });
});

test('a repeated name is caught even when every other item is unchanged', (t) => {
  const r = new JsonItemReader();
  t.truthy(r.read('{"routes": {"a": {"v": 1}, "b": {"v": 2}}}'));
  t.is(r.read('{"routes": {"a": {"v": 1}, "b": {"v": 2}, "a": {"v": 3}}}'), undefined);
  t.is(r.read('{"routes": {"a": {"v": 1}, "a": {"v": 1}}}'), undefined);
});

test('bytes in a reused buffer: what is kept is a copy, so overwriting the buffer changes nothing read before', (t) => {
  const r = new JsonItemReader();
  const buf = Buffer.alloc(4096, 0x20);
  const put = (text: string): Buffer => { buf.fill(0x20); return buf.subarray(0, buf.write(text)); };
  const v1 = { u: { targets: [{ url: 'http://127.0.0.1:2' }] } };
  const one = r.read(put(JSON.stringify({ upstreams: v1, routes: { a: { v: 1 }, b: { v: 2 } } }))) as any;
  const two = r.read(put(JSON.stringify({ upstreams: v1, routes: { a: { v: 1 }, b: { v: 3 } } }))) as any;
  t.is(r.parsed, 1, 'only b is parsed again');
  t.is(two.upstreams, one.upstreams);
  t.is(two.routes.a, one.routes.a);
  t.deepEqual(two, { upstreams: v1, routes: { a: { v: 1 }, b: { v: 3 } } });
  // The first read's bytes were overwritten; a third read still compares with what was read.
  const three = r.read(put(JSON.stringify({ upstreams: v1, routes: { a: { v: 1 }, b: { v: 3 } } }))) as any;
  t.true(r.unchanged, 'the same bytes again: unchanged');
  t.is(three.routes, two.routes);
  r.read(put(JSON.stringify({ upstreams: v1, routes: { a: { v: 1 }, b: { v: 4 } } })));
  t.false(r.unchanged);
});

test('UTF-8: names and values with multi-byte characters are read as JSON.parse reads them, and reused when unchanged', (t) => {
  const r = new JsonItemReader();
  const text = JSON.stringify({ consumers: { 'jörg': { groups: ['ünïcödé', '→'] }, '東京': { groups: ['😀'] } }, routes: { 'é': { x: 'ü"→\\' } } });
  const one = r.read(Buffer.from(text)) as any;
  t.deepEqual(one, JSON.parse(text));
  const edited = JSON.stringify({ consumers: { 'jörg': { groups: ['ünïcödé', '→'] }, '東京': { groups: ['😀', 'b'] } }, routes: { 'é': { x: 'ü"→\\' } } });
  const two = r.read(Buffer.from(edited)) as any;
  t.deepEqual(two, JSON.parse(edited));
  t.is(two.consumers['jörg'], one.consumers['jörg']);
  t.is(two.routes, one.routes);
  t.is(r.parsed, 1);
});
