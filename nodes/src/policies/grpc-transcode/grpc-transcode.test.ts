/** Unit tests: path templates and the proto3 JSON mapping's edge cases (no network). */
import test from 'ava';
import protobuf from 'protobufjs';
import { compileTemplate } from './template.ts';
import { compileProtoFiles } from '../../protos/load.ts';
import { messageFromJson, messageToJson, type Issue } from '../../protos/json.ts';

test('templates: segments, variables, multi-segment variables, ** and verbs', (t) => {
  const a = compileTemplate('/v1/{name=shelves/*/books/*}:publish');
  t.deepEqual(a.vars, [{ path: ['name'], multi: true }]);
  t.deepEqual(a.regex.exec('/v1/shelves/1/books/2:publish')?.slice(1), ['shelves/1/books/2']);
  t.is(a.regex.exec('/v1/shelves/1/books/2'), null);
  t.is(a.regex.exec('/v1/shelves/1:publish'), null);
  const b = compileTemplate('/v1/shelves/{shelf}/books/{book.id}');
  t.deepEqual(b.regex.exec('/v1/shelves/3/books/4')?.slice(1), ['3', '4']);
  t.deepEqual(b.vars.map((v) => v.path), [['shelf'], ['book', 'id']]);
  const c = compileTemplate('/files/{path=**}');
  t.deepEqual(c.regex.exec('/files/a/b/c.txt')?.slice(1), ['a/b/c.txt']);
  t.true(compileTemplate('/v1/books:search').literals > compileTemplate('/v1/{x}').literals);
  for (const bad of ['v1/x', '/v1/{x', '/v1/**/x', '/v1/{a-b}', '/v1//x', '/v1/{x=**}/y']) t.throws(() => compileTemplate(bad), undefined, bad);
});

const root = compileProtoFiles({
  entry: 't.proto',
  files: {
    't.proto': `syntax = "proto3"; package t;
      import "google/protobuf/timestamp.proto"; import "google/protobuf/duration.proto"; import "google/protobuf/wrappers.proto";
      message M { int32 a = 1; uint64 b = 2; float f = 3; bytes d = 4; google.protobuf.Timestamp ts = 5; google.protobuf.Duration du = 6;
        google.protobuf.UInt32Value w = 7; map<bool, int32> flags = 8; M child = 9; map<string, string> labels = 10; }`,
  },
});
const M = root.lookupType('t.M');
const conv = (v: unknown): { msg?: Record<string, unknown>; issues: Issue[] } => {
  const issues: Issue[] = [];
  const msg = messageFromJson(M, v, '', issues, root);
  return { msg, issues };
};
const roundTrip = (v: unknown): unknown => {
  const { msg, issues } = conv(v);
  if (issues.length) throw new Error(JSON.stringify(issues));
  return messageToJson(M, M.decode(M.encode(msg!).finish()) as unknown as Record<string, unknown>, { protoNames: false, defaults: false }, root);
};

test('JSON mapping: ranges, base64 forms, timestamps and durations at their limits', (t) => {
  t.deepEqual(roundTrip({ a: -2147483648, b: '18446744073709551615', d: '-_8', ts: '0001-01-01T00:00:00Z', du: '-315576000000.999999999s' }),
    { a: -2147483648, b: '18446744073709551615', d: '+/8=', ts: '0001-01-01T00:00:00Z', du: '-315576000000.999999999s' });
  t.deepEqual(roundTrip({ ts: '9999-12-31T23:59:59.999999999+00:00', w: 0 }), { ts: '9999-12-31T23:59:59.999999999Z', w: 0 });
  t.deepEqual(roundTrip({ ts: '2024-02-29T12:00:00.1-01:30' }), { ts: '2024-02-29T13:30:00.100Z' });
  t.deepEqual(roundTrip({ flags: { true: 1, false: 2 } }), { flags: { true: 1, false: 2 } });
  const polluted = conv(JSON.parse('{"labels":{"__proto__":"x"}}')).msg!.labels as object;
  t.deepEqual(Object.keys(polluted), ['__proto__'], 'a "__proto__" map key stays a key');
  t.is(({} as Record<string, unknown>).x, undefined);
  const bad = conv({ a: 2147483648, b: '-1', f: 1e39, d: 'a', ts: '2023-02-29T00:00:00Z', du: '1m', w: -1, flags: { maybe: 1 } }).issues.map((i) => i.path);
  t.deepEqual(bad, ['a', 'b', 'f', 'd', 'ts', 'du', 'w', 'flags["maybe"]']);
  t.deepEqual(conv({ ts: '10000-01-01T00:00:00Z' }).issues.map((i) => i.path), ['ts']);
});

test('JSON mapping: a recursive type nested without end is refused with a path, not a stack overflow', (t) => {
  let v: Record<string, unknown> = {};
  for (let i = 0; i < 5000; i++) v = { child: v };
  const { issues } = conv(v);
  t.is(issues.length, 1);
  t.regex(issues[0]!.message, /nested deeper than/);
});

test('JSON mapping: defaults print only when asked, proto names when asked', (t) => {
  const msg = M.decode(M.encode({ a: 0, child: {} }).finish()) as unknown as Record<string, unknown>;
  t.deepEqual(messageToJson(M, msg, { protoNames: false, defaults: false }, root), { child: {} });
  const all = messageToJson(M, msg, { protoNames: true, defaults: true }, root) as Record<string, unknown>;
  const defaults = { a: 0, b: '0', f: 0, d: '', flags: {}, labels: {} };
  t.deepEqual(all, { ...defaults, child: defaults });
  t.false('ts' in all, 'unset message fields are not printed even with defaults');
  t.true(protobuf.util.Long !== undefined, 'protobufjs has Long: 64-bit strings encode exactly');
});
