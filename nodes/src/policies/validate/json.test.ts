import test from 'ava';
import { parseStrictJson, scanJson } from './json.ts';

const ok = (s: string) => scanJson(s, 32);

test('well-formed JSON passes and parses like JSON.parse', (t) => {
  for (const s of ['{}', '[]', '0', '-0.5e+10', '"a\\u00e9\\n"', 'true', 'null', ' {"a":[1,{"b":null}],"c":"\\ud83d\\ude00"} ', '{"a":1,"A":2}']) {
    t.is(ok(s), undefined, s);
    const r = parseStrictJson(Buffer.from(s), 32);
    t.deepEqual(r, { ok: true, value: JSON.parse(s) });
  }
});

test('malformed JSON is refused', (t) => {
  for (const s of ['', '{', '[1,]', '{"a":1,}', '01', '1.', '.5', '+1', '"\\x"', '"a\tb"', 'tru', 'nul', '{"a" 1}', '{a:1}', '[1] [2]', '1 2', "'a'", '{"a":1}}', 'NaN', 'Infinity']) {
    t.truthy(ok(s), s);
  }
});

test('duplicate names are refused, also when spelled with escapes', (t) => {
  t.regex(ok('{"a":1,"a":2}')!, /duplicate name "a"/);
  t.regex(ok('{"role":"user","r\\u006fle":"admin"}')!, /duplicate name "role"/);
  t.regex(ok('[{"x":{"k":1,"k":1}}]')!, /duplicate/);
  // Same name in sibling or nested objects is fine.
  t.is(ok('{"a":{"a":1},"b":{"a":2}}'), undefined);
  t.is(ok('[{"a":1},{"a":2}]'), undefined);
});

test('lone surrogate escapes are refused; pairs are fine', (t) => {
  t.regex(ok('"\\ud800"')!, /lone surrogate/);
  t.regex(ok('"\\udc00"')!, /lone surrogate/);
  t.regex(ok('"\\ud800\\u0041"')!, /lone surrogate/);
  t.regex(ok('{"\\ud800":1}')!, /lone surrogate/);
  t.is(ok('"\\ud83d\\ude00"'), undefined);
});

test('numbers outside float64 are refused (JSON.parse gives Infinity)', (t) => {
  t.regex(ok('1e400')!, /out of range/);
  t.regex(ok('[-1e999]')!, /out of range/);
  t.is(ok('1e308'), undefined);
});

test('depth limit counts containers; deep input fails fast without recursion', (t) => {
  t.is(scanJson('[[[]]]', 3), undefined);
  t.regex(scanJson('[[[[]]]]', 3)!, /deeper than 3/);
  t.regex(scanJson('{"a":{"b":{"c":{}}}}', 3)!, /deeper than 3/);
  const deep = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
  const start = performance.now();
  t.regex(scanJson(deep, 32)!, /deeper than 32/);
  t.true(performance.now() - start < 1000);
});

test('bytes: invalid UTF-8, overlong forms, encoded surrogates and a BOM are refused', (t) => {
  const bad = (b: number[]) => parseStrictJson(Buffer.from([0x22, ...b, 0x22]), 32);
  t.deepEqual(bad([0xff]), { ok: false, message: 'body is not well-formed UTF-8' });
  t.false(bad([0xc0, 0xaf]).ok); // overlong '/'
  t.false(bad([0xed, 0xa0, 0x80]).ok); // CESU-8 / WTF-8 surrogate D800
  t.false(bad([0xe2, 0x82]).ok); // truncated
  t.true(bad([0xe2, 0x82, 0xac]).ok); // '€'
  const bom = parseStrictJson(Buffer.from('\ufeff{}'), 32);
  t.deepEqual(bom, { ok: false, message: 'body must not start with a byte order mark' });
});

test('__proto__ is an ordinary name', (t) => {
  const r = parseStrictJson(Buffer.from('{"__proto__":{"admin":true}}'), 32);
  t.true(r.ok);
  t.is(({} as Record<string, unknown>).admin, undefined);
});

test('a long exponent-free number beyond float64 is refused too', (t) => {
  t.regex(scanJson('9'.repeat(400), 32)!, /out of range/);
  t.regex(scanJson('9'.repeat(300), 32)!, /not exactly representable/);
  t.is(scanJson('1' + '0'.repeat(300), 32), undefined, 'long but exact in float64 (shortest round-trip)');
});

test('numbers beyond 15 significant digits must be exact in float64 (no precision differential)', (t) => {
  t.regex(scanJson('[10.0000000000000001]', 32)!, /not exactly representable/);
  t.regex(scanJson('9007199254740993', 32)!, /not exactly representable/);
  t.is(scanJson('9007199254740992', 32), undefined);
  t.is(scanJson('0.1234567890123456', 32), undefined);
});
