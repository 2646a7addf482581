/**
 * HPACK codec and Huffman code: the examples of RFC 7541 Appendix C (fields, dynamic table
 * contents and size after each block), Huffman round trips, every malformed input the decoder
 * must refuse, encoder → decoder round trips with table size changes and eviction, and interop
 * with node:http2 (nghttp2) over a raw h2c socket in both directions.
 */
import test, { type ExecutionContext } from 'ava';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack.ts';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, huffmanDecode, huffmanEncode, huffmanEncodedLength } from './huffman.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const pairs = (flat: string[]): [string, string][] => {
  const all: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) all.push([flat[i]!, flat[i + 1]!]);
  return all;
};
const decodeAll = (d: HpackDecoder, block: Buffer): [string, string][] => {
  const out: string[] = [];
  d.decode(block, out);
  return pairs(out);
};

/** Seeded PRNG (mulberry32), so a failing round trip can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- Appendix C ------------------------------------------------------------------------------

test('C.1: integer representation (via the encoder: size updates, string lengths)', (t) => {
  const e = new HpackEncoder();
  e.setPeerTableSize(10); // C.1.1: 10, 5-bit prefix → 0a (with the 001 size-update pattern: 2a)
  t.deepEqual(e.encode([]), hex('2a'));
  e.setPeerTableSize(1337); // C.1.2: 1337, 5-bit prefix → 1f 9a 0a
  t.deepEqual(e.encode([]), hex('3f 9a 0a'));
  // C.1.3: 42 on an 8-bit boundary → 2a; a raw string's 7-bit length prefix holds 42 the same way.
  const block = e.encode([':path', 'x'.repeat(42)]);
  t.deepEqual(block.subarray(0, 2), hex('04 2a'));
});

const C2: [string, string, [string, string][], [string, string][], number][] = [
  ['C.2.1 literal with indexing', '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572',
    [['custom-key', 'custom-header']], [['custom-key', 'custom-header']], 55],
  ['C.2.2 literal without indexing', '040c 2f73 616d 706c 652f 7061 7468', [[':path', '/sample/path']], [], 0],
  ['C.2.3 literal never indexed', '1008 7061 7373 776f 7264 0673 6563 7265 74', [['password', 'secret']], [], 0],
  ['C.2.4 indexed field', '82', [[':method', 'GET']], [], 0],
];
for (const [title, block, fields, table, size] of C2) {
  test(title, (t) => {
    const d = new HpackDecoder();
    t.deepEqual(decodeAll(d, hex(block)), fields);
    t.deepEqual(d.entries(), table);
    t.is(d.tableSize, size);
  });
}

test('C.2: the encoder writes C.2.1, C.2.2 and C.2.4 byte for byte', (t) => {
  t.deepEqual(new HpackEncoder().encode(['custom-key', 'custom-header']), hex(C2[0]![1]));
  t.deepEqual(new HpackEncoder().encode([':path', '/sample/path']), hex(C2[1]![1]));
  t.deepEqual(new HpackEncoder().encode([':method', 'GET']), hex(C2[3]![1]));
});

type Step = [block: string, fields: [string, string][], table: [string, string][], size: number];

const REQ1: [string, string][] = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQ2: [string, string][] = [...REQ1, ['cache-control', 'no-cache']];
const REQ3: [string, string][] = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
const REQ_TABLES: [[string, string][], number][] = [
  [[[':authority', 'www.example.com']], 57],
  [[['cache-control', 'no-cache'], [':authority', 'www.example.com']], 110],
  [[['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']], 164],
];
const C3 = ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865',
  '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'];
const C4 = ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf',
  '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'];
const requests = (blocks: string[]): Step[] => [REQ1, REQ2, REQ3].map((f, i) => [blocks[i]!, f, REQ_TABLES[i]![0], REQ_TABLES[i]![1]]);

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOC = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESP1: [string, string][] = [[':status', '302'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]];
const RESP2: [string, string][] = [[':status', '307'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]];
const RESP3: [string, string][] = [[':status', '200'], ['cache-control', 'private'], ['date', DATE2], ['location', LOC], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]];
const RESP_TABLES: [[string, string][], number][] = [
  [[['location', LOC], ['date', DATE1], ['cache-control', 'private'], [':status', '302']], 222],
  [[[':status', '307'], ['location', LOC], ['date', DATE1], ['cache-control', 'private']], 222],
  [[['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE2]], 215],
];
const C5 = [
  `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
   2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
  '4803 3330 37c1 c0bf',
  `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
   54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
   5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
];
const C6 = [
  `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
   2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
  '4883 640e ffc1 c0bf',
  `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
   77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
   9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
];
const responses = (blocks: string[]): Step[] => [RESP1, RESP2, RESP3].map((f, i) => [blocks[i]!, f, RESP_TABLES[i]![0], RESP_TABLES[i]![1]]);

const SEQUENCES: [string, number, Step[]][] = [
  ['C.3 requests without Huffman', 4096, requests(C3)],
  ['C.4 requests with Huffman', 4096, requests(C4)],
  ['C.5 responses without Huffman, 256-byte table', 256, responses(C5)],
  ['C.6 responses with Huffman, 256-byte table', 256, responses(C6)],
];
for (const [title, tableSize, steps] of SEQUENCES) {
  test(title, (t) => {
    const d = new HpackDecoder(tableSize);
    steps.forEach(([block, fields, table, size], i) => {
      t.deepEqual(decodeAll(d, hex(block)), fields, `block ${i + 1}`);
      t.deepEqual(d.entries(), table, `table after block ${i + 1}`);
      t.is(d.tableSize, size, `table size after block ${i + 1}`);
    });
  });
}

test('C.3: the encoder writes the request sequence byte for byte', (t) => {
  const e = new HpackEncoder();
  for (const [i, fields] of [REQ1, REQ2, REQ3].entries()) {
    t.deepEqual(e.encode(fields.flat()), hex(C3[i]!), `request ${i + 1}`);
  }
  t.is(e.tableSize, 164);
});

// ---- Huffman ---------------------------------------------------------------------------------

test('huffman: codes derived from the lengths match Appendix B', (t) => {
  const rows: [number, number, number][] = [
    [0, 0x1ff8, 13], [1, 0x7fffd8, 23], [10, 0x3ffffffc, 30], [32, 0x14, 6], [48, 0x0, 5], [97, 0x3, 5],
    [116, 0x9, 5], [92, 0x7fff0, 19], [127, 0xffffffc, 28], [128, 0xfffe6, 20], [199, 0x1ffffec, 25],
    [203, 0x7ffffde, 27], [255, 0x3ffffee, 26], [256, 0x3fffffff, 30],
  ];
  for (const [sym, code, len] of rows) {
    t.is(HUFFMAN_CODES[sym], code, `code of ${sym}`);
    t.is(HUFFMAN_LENGTHS[sym], len, `length of ${sym}`);
  }
});

test('huffman: the strings of C.4 and C.6 encode and decode exactly', (t) => {
  const known: [string, string][] = [
    ['www.example.com', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff'], ['no-cache', 'a8eb 1064 9cbf'],
    ['custom-key', '25a8 49e9 5ba9 7d7f'], ['custom-value', '25a8 49e9 5bb8 e8b4 bf'], ['302', '6402'],
    ['307', '640e ff'], ['private', 'aec3 771a 4b'], [DATE1, 'd07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff'],
    [LOC, '9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3'], ['gzip', '9bd9 ab'],
    [COOKIE, '94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07'],
  ];
  for (const [s, h] of known) {
    const want = hex(h);
    t.is(huffmanEncodedLength(s), want.length, s);
    const out = Buffer.alloc(want.length);
    t.is(huffmanEncode(s, out, 0), want.length, s);
    t.deepEqual(out, want, s);
    t.is(huffmanDecode(want, 0, want.length), s);
  }
});

test('huffman: every byte value round-trips, alone and all together', (t) => {
  let all = '';
  for (let c = 0; c < 256; c++) {
    const s = String.fromCharCode(c).repeat(3);
    all += String.fromCharCode(c);
    const buf = Buffer.alloc(huffmanEncodedLength(s));
    huffmanEncode(s, buf, 0);
    t.is(huffmanDecode(buf, 0, buf.length), s, `byte ${c}`);
  }
  const buf = Buffer.alloc(huffmanEncodedLength(all) + 4);
  const end = huffmanEncode(all, buf, 2);
  t.is(end, 2 + huffmanEncodedLength(all));
  t.is(huffmanDecode(buf, 2, end), all);
  t.is(huffmanDecode(buf, 0, 0), '');
});

test('huffman: random strings round-trip', (t) => {
  const rand = rng(7);
  for (let i = 0; i < 2000; i++) {
    const len = Math.floor(rand() * 100);
    const ascii = rand() < 0.7;
    let s = '';
    for (let j = 0; j < len; j++) s += String.fromCharCode(ascii ? 32 + Math.floor(rand() * 95) : Math.floor(rand() * 256));
    const buf = Buffer.alloc(huffmanEncodedLength(s));
    t.is(huffmanEncode(s, buf, 0), buf.length);
    if (huffmanDecode(buf, 0, buf.length) !== s) return t.fail(`round trip of ${JSON.stringify(s)}`);
  }
  t.pass();
});

test('huffman: EOS, long or non-EOS padding are refused', (t) => {
  t.is(huffmanDecode(hex('ffffffff'), 0, 4), null, 'EOS (30 ones) decoded');
  t.is(huffmanDecode(hex('ff'), 0, 1), null, '8 bits of padding');
  t.is(huffmanDecode(hex('1f ff'), 0, 2), null, "'a' then 11 bits of padding");
  t.is(huffmanDecode(hex('18'), 0, 1), null, "'a' then padding 000");
  t.is(huffmanDecode(hex('1f'), 0, 1), 'a', "'a' then padding 111");
});

// ---- malformed input -------------------------------------------------------------------------

const MALFORMED: [string, string, RegExp, number?][] = [
  ['index 0', '80', /index 0/],
  ['index past the static table, dynamic table empty', 'be', /index 62/],
  ['index far past the tables', 'ff 80 01', /past the tables/],
  ['literal name index past the tables', '7e 01 61', /name index 62/],
  ['literal without indexing, name index past the tables', '0f 30 01 61', /name index/],
  ['integer overflow past 2^31', 'ff ff ff ff ff 0f', /integer overflow/],
  ['integer with too many continuation bytes', 'ff 80 80 80 80 80 00', /integer overflow/],
  ['truncated integer', 'ff 80', /truncated integer/],
  ['truncated string length', '40 7f', /truncated integer/],
  ['truncated name string', '40 0a 63 75 73 74', /truncated string/],
  ['missing name string', '40', /truncated string/],
  ['missing value string', '41', /truncated string/],
  ['truncated value string', '41 05 61 62', /truncated string/],
  ['string length overflow', '41 7f ff ff ff ff 0f', /integer overflow/],
  ['Huffman string containing EOS', '00 01 61 84 ff ff ff ff', /Huffman/],
  ['Huffman padding longer than 7 bits', '00 01 61 81 ff', /Huffman/],
  ['Huffman padding not all ones', '00 01 61 81 18', /Huffman/],
  ['Huffman EOS in a name', '40 84 ff ff ff ff 01 61', /Huffman/],
  ['table size update above the limit (4096)', '3f e2 1f', /above the limit/],
  ['table size update above the limit (256)', '3f e2 01', /above the limit/, 256],
  ['table size update after a field', '82 20', /size update after a field/],
  ['table size update after a literal', '04 01 2f 3f e1 01', /size update after a field/],
];
for (const [title, block, message, tableSize] of MALFORMED) {
  test(`malformed: ${title}`, (t) => {
    const d = new HpackDecoder(tableSize);
    t.throws(() => d.decode(hex(block), []), { instanceOf: HpackError, message });
  });
}

test('malformed: random bytes either decode or throw HpackError, nothing else', (t) => {
  const rand = rng(3);
  let refused = 0;
  for (let i = 0; i < 5000; i++) {
    const block = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)));
    try {
      new HpackDecoder(rand() < 0.5 ? 4096 : 0, 2000).decode(block, []);
    } catch (e) {
      if (!(e instanceof HpackError)) return t.fail(`${block.toString('hex')}: ${String(e)}`);
      refused++;
    }
  }
  t.true(refused > 1000);
});

test('size updates at the start of a block are fine, several of them too', (t) => {
  const d = new HpackDecoder(256);
  t.deepEqual(decodeAll(d, hex('3f e1 01 20 3f e1 01 82')), [[':method', 'GET']]);
  t.throws(() => new HpackDecoder(256).decode(hex('3f e2 01'), []), { instanceOf: HpackError });
});

test('malformed: header list too large', (t) => {
  const d = new HpackDecoder(4096, 100);
  // :method GET counts 7 + 3 + 32 = 42; three of them are 126 > 100.
  const out: string[] = [];
  d.decode(hex('82 82'), out);
  t.throws(() => d.decode(hex('82 82 82'), []), { instanceOf: HpackError, message: 'header list too large' });
  const big = new HpackEncoder().encode(['x-big', 'v'.repeat(70)]);
  t.throws(() => d.decode(big, []), { instanceOf: HpackError, message: 'header list too large' });
});

test('the decoder evicts oldest first and empties the table for an oversized entry', (t) => {
  const d = new HpackDecoder(100);
  const e = new HpackEncoder();
  e.setPeerTableSize(100);
  const one = e.encode(['a', '1'.repeat(20), 'b', '2'.repeat(20)]); // 53 + 53 > 100: 'a' evicted
  t.deepEqual(decodeAll(d, one), [['a', '1'.repeat(20)], ['b', '2'.repeat(20)]]);
  t.deepEqual(d.entries(), [['b', '2'.repeat(20)]]);
  t.is(d.tableSize, 53);
  t.is(e.tableSize, 53);
  const two = e.encode(['c', 'x'.repeat(80)]); // 113 > 100: empties the table, not inserted
  t.deepEqual(decodeAll(d, two), [['c', 'x'.repeat(80)]]);
  t.deepEqual(d.entries(), []);
  t.is(d.tableSize, 0);
  t.is(e.tableSize, 0);
});

test('the decoder keeps a large table across ring growth', (t) => {
  const d = new HpackDecoder(65536);
  const e = new HpackEncoder();
  const fields: string[] = [];
  for (let i = 0; i < 100; i++) fields.push(`h${i}`, `v${i}`);
  t.deepEqual(decodeAll(d, e.encode(fields)), pairs(fields));
  t.is(d.entries().length, 100);
  t.deepEqual(d.entries()[0], ['h99', 'v99']);
  // All indexed now: 62..161, one byte each up to 126, two from 127 on.
  const again = e.encode(fields);
  t.is(again.length, 65 + 2 * 35);
  t.deepEqual(decodeAll(d, again), pairs(fields));
  t.is(d.tableSize, e.tableSize);
});

test('strings decode as latin1', (t) => {
  const d = new HpackDecoder();
  // Raw name 'x', raw value bytes c3 a9 ff → three latin1 chars.
  t.deepEqual(decodeAll(d, hex('00 01 78 03 c3 a9 ff')), [['x', '\u00c3\u00a9\u00ff']]);
  const value = 'caf\u00e9 \u00ff\u0080 ' + 'z\u00e0'.repeat(20);
  t.deepEqual(decodeAll(d, new HpackEncoder().encode(['x-l1', value])), [['x-l1', value]]);
});

// ---- encoder ---------------------------------------------------------------------------------

test('encoder: representations by name and value', (t) => {
  const e = new HpackEncoder();
  // Never indexed, with the static name index of authorization (23): 0001 1111 + 8 → 1f 08.
  t.deepEqual(e.encode(['authorization', 'secret']).subarray(0, 3), hex('1f 08 06'));
  // Never indexed, static name set-cookie (55): 1f 28; cookie (32): 1f 11.
  t.deepEqual(e.encode(['set-cookie', 'a=b']).subarray(0, 2), hex('1f 28'));
  t.deepEqual(e.encode(['cookie', 'a=b']).subarray(0, 2), hex('1f 11'));
  // Without indexing: x-request-id (new name) and content-length (static name 28: 0f 0d).
  t.deepEqual(e.encode(['x-request-id', 'r1']).subarray(0, 2), hex('00 0c'));
  t.deepEqual(e.encode(['content-length', '12']), hex('0f 0d 02 3132'));
  // Without indexing: value over 512 bytes.
  t.is(e.encode(['x-long', 'v'.repeat(513)])[0], 0x00);
  t.is(e.tableSize, 0);
  // With incremental indexing, then indexed: 62.
  t.deepEqual(e.encode(['x-tenant', 'acme']).subarray(0, 2), hex('40 08'));
  t.deepEqual(e.encode(['x-tenant', 'acme']), hex('be'));
  // Static exact match; static name with indexing (content-type 31: 40 | 31 = 5f).
  t.deepEqual(e.encode([':method', 'POST', 'content-type', 'application/grpc']).subarray(0, 3), hex('83 5f 10'));
  t.deepEqual(e.encode(['content-type', 'application/grpc', 'x-tenant', 'acme']), hex('be bf'));
});

test('encoder: table size changes are signalled once, smallest first (§4.2)', (t) => {
  const e = new HpackEncoder();
  e.encode(['x-a', 'b']);
  t.is(e.tableSize, 36);
  e.setPeerTableSize(8192); // capped at 4096: no change, nothing signalled
  t.deepEqual(e.encode([':method', 'GET']), hex('82'));
  e.setPeerTableSize(100);
  e.setPeerTableSize(200);
  t.deepEqual(e.encode([':method', 'GET']), hex('3f 45 3f a9 01 82'));
  t.deepEqual(e.encode([':method', 'GET']), hex('82'));
  e.setPeerTableSize(0);
  t.is(e.tableSize, 0);
  t.deepEqual(e.encode(['x-a', 'b']).subarray(0, 2), hex('20 40'));
  e.setPeerTableSize(4096);
  t.deepEqual(e.encode([]), hex('3f e1 1f'));
});

test('encoder: the result is not reused by later encodes', (t) => {
  const e = new HpackEncoder();
  const a = e.encode(['x-one', '1'.repeat(100)]);
  const copy = Buffer.from(a);
  e.encode(['x-two', '2'.repeat(5000)]);
  e.encode(['x-three', '3'.repeat(100)]);
  t.deepEqual(a, copy);
});

const NAMES = [
  ':method', ':path', ':scheme', ':authority', ':status', 'content-type', 'accept-encoding', 'user-agent',
  'authorization', 'cookie', 'set-cookie', 'content-length', 'x-request-id', 'traceparent', 'date', 'etag',
  'grpc-timeout', 'x-custom-a', 'x-custom-b', 'x-tenant', 'te', 'grpc-encoding', 'cache-control', 'x-z',
];
const VALUES = ['GET', 'POST', '/', '/index.html', 'http', 'https', '200', '404', 'application/grpc', 'trailers', '', 'gzip, deflate', 'acme'];

function randomList(rand: () => number): string[] {
  const fields: string[] = [];
  const n = Math.floor(rand() * 12);
  for (let i = 0; i < n; i++) {
    const name = rand() < 0.9 ? NAMES[Math.floor(rand() * NAMES.length)]! : `x-rand-${Math.floor(rand() * 1000)}`;
    let value: string;
    const r = rand();
    if (r < 0.4) value = VALUES[Math.floor(rand() * VALUES.length)]!;
    else if (r < 0.8) value = `v${Math.floor(rand() * 50)}`;
    else if (r < 0.9) value = String.fromCharCode(...Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)));
    else value = 'L'.repeat(Math.floor(rand() * 1200));
    fields.push(name, value);
  }
  return fields;
}

for (const size of [0, 64, 256, 1000, 4096, 65536]) {
  test(`round trips: random header lists, peer table size ${size}`, (t) => {
    const rand = rng(size + 1);
    const e = new HpackEncoder();
    e.setPeerTableSize(size);
    const d = new HpackDecoder(size);
    for (let i = 0; i < 1500; i++) {
      const fields = randomList(rand);
      const got: string[] = [];
      d.decode(e.encode(fields), got);
      if (got.length !== fields.length || got.some((s, j) => s !== fields[j])) return t.fail(`list ${i}`);
      // Past 4096 the encoder keeps to 4096 unsignalled (it never raised it); the decoder may hold more.
      if (size <= 4096 ? d.tableSize !== e.tableSize : d.tableSize < e.tableSize) return t.fail(`table sizes after list ${i}`);
    }
    t.true(e.tableSize <= Math.min(size, 4096));
  });
}

test('round trips: table size changes between blocks', (t) => {
  const rand = rng(99);
  const e = new HpackEncoder();
  const d = new HpackDecoder(4096);
  const sizes = [4096, 0, 100, 300, 2000, 50, 4096, 10000, 1];
  for (let i = 0; i < 2000; i++) {
    if (rand() < 0.05) e.setPeerTableSize(sizes[Math.floor(rand() * sizes.length)]!);
    if (rand() < 0.02) e.setPeerTableSize(sizes[Math.floor(rand() * sizes.length)]!);
    const fields = randomList(rand);
    const got: string[] = [];
    d.decode(e.encode(fields), got);
    if (got.length !== fields.length || got.some((s, j) => s !== fields[j])) return t.fail(`list ${i}`);
    if (d.tableSize !== e.tableSize) return t.fail(`table sizes differ after list ${i}`);
  }
  t.pass();
});

// ---- interop with node:http2 -----------------------------------------------------------------

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const HEADERS = 1;
const SETTINGS = 4;
const GOAWAY = 7;
const CONTINUATION = 9;

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

interface InteropOptions { serverTable?: number; clientTable?: number }

/**
 * Three requests on streams 1, 3, 5 encoded by HpackEncoder; the server echoes what it decoded as
 * x-echo-* response headers plus some long and varied ones; HpackDecoder decodes the responses.
 */
async function interop(t: ExecutionContext, opts: InteropOptions): Promise<void> {
  const settings = opts.serverTable === undefined ? {} : { headerTableSize: opts.serverTable };
  const server = http2.createServer({ settings });
  t.teardown(() => server.close());
  const long = 'The quick brown fox jumps over the lazy dog; '.repeat(8);
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    const res: Record<string, string> = { ':status': '200', 'cache-control': 'private, max-age=0' };
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value === 'string') res[`x-echo-${name.replace(/^:/, '')}`] = value;
    }
    const n = headers[':path']!.slice(-1);
    res['x-long'] = long + n;
    res['x-varied'] = `varied-${n}-${'0123456789abcdef'.repeat(Number(n))}`;
    res['x-same'] = 'the same value in every response';
    stream.respond(res, { endStream: true });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;

  const socket = net.connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');

  const encoder = new HpackEncoder();
  const decoder = new HpackDecoder(opts.clientTable);
  const blocks: Buffer[] = [];
  const decoded: [string, string][][] = [];
  let gotSettings!: () => void;
  const settingsSeen = new Promise<void>((resolve) => (gotSettings = resolve));
  let allResponses!: () => void;
  let failed!: (e: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    allResponses = resolve;
    failed = reject;
  });

  let pending = Buffer.alloc(0);
  let block: Buffer[] = [];
  socket.on('error', (e) => failed(e));
  socket.on('close', () => failed(new Error('socket closed before three responses')));
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) break;
      const [type, flags] = [pending[3]!, pending[4]!];
      const stream = pending.readUInt32BE(5) & 0x7fffffff;
      let payload = pending.subarray(9, 9 + length);
      pending = pending.subarray(9 + length);
      if (type === SETTINGS && !(flags & 1)) {
        for (let i = 0; i + 6 <= payload.length; i += 6) {
          if (payload.readUInt16BE(i) === 1) encoder.setPeerTableSize(payload.readUInt32BE(i + 2));
        }
        socket.write(frame(SETTINGS, 1, 0));
        gotSettings();
      } else if (type === GOAWAY) {
        failed(new Error(`GOAWAY, error code ${payload.readUInt32BE(4)}`));
      } else if (type === HEADERS || type === CONTINUATION) {
        if (type === HEADERS) {
          if (flags & 0x8) payload = payload.subarray(1, payload.length - payload[0]!); // PADDED
          if (flags & 0x20) payload = payload.subarray(5); // PRIORITY
        }
        block.push(payload);
        if (flags & 0x4) { // END_HEADERS
          const whole = Buffer.concat(block);
          block = [];
          blocks.push(whole);
          try {
            decoded.push(decodeAll(decoder, whole));
          } catch (e) {
            failed(e as Error);
          }
          t.true(stream === 2 * decoded.length - 1, 'responses in stream order');
          if (decoded.length === 3) allResponses();
        }
      }
    }
  });

  const ours = opts.clientTable === undefined ? Buffer.alloc(0) : Buffer.from([0, 1, 0, 0, opts.clientTable >> 8, opts.clientTable & 0xff]);
  socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, ours)]));
  await Promise.race([settingsSeen, done]);

  const sent: string[][] = [];
  const requestBlocks: Buffer[] = [];
  for (const i of [1, 2, 3]) {
    const fields = [
      ':method', 'POST', ':scheme', 'http', ':path', `/bench.Echo/Unary${i}`, ':authority', `127.0.0.1:${port}`,
      'content-type', 'application/grpc', 'te', 'trailers', 'user-agent', 'grpc-node-js/1.14',
      'grpc-accept-encoding', 'identity,deflate,gzip', 'x-tenant', 'acme-corporation',
      'x-request-id', randomUUID(), 'authorization', 'Bearer token-that-never-gets-indexed',
      'x-big', 'B'.repeat(600), 'x-latin1', 'caf\u00e9 na\u00efve \u00ff',
    ];
    sent.push(fields);
    requestBlocks.push(encoder.encode(fields));
    socket.write(frame(HEADERS, 0x1 | 0x4, 2 * i - 1, requestBlocks.at(-1)));
  }
  await done;

  for (const [i, fields] of sent.entries()) {
    const got = new Map(decoded[i]);
    t.is(got.get(':status'), '200');
    for (const [name, value] of pairs(fields)) t.is(got.get(`x-echo-${name.replace(/^:/, '')}`), value, `response ${i + 1}: ${name}`);
    t.is(got.get('x-long'), long + (i + 1));
    t.is(got.get('x-varied'), `varied-${i + 1}-${'0123456789abcdef'.repeat(i + 1)}`);
    t.is(got.get('x-same'), 'the same value in every response');
    t.is(got.get('cache-control'), 'private, max-age=0');
    t.truthy(got.get('date'));
  }
  // Huffman shrank the first response's literals.
  const raw = decoded[0]!.reduce((n, [name, value]) => n + name.length + value.length, 0);
  t.true(blocks[0]!.length < raw * 0.9, `first block ${blocks[0]!.length} bytes for ${raw} bytes of strings`);
  t.true(decoder.entries().length > 0);
  t.true(decoder.tableSize <= (opts.clientTable ?? 4096));
  // Both sides' dynamic tables shrank the later blocks, or with small tables each side signalled its size.
  if (opts.clientTable === undefined) t.true(blocks[1]!.length < blocks[0]!.length / 2, `second block ${blocks[1]!.length} vs ${blocks[0]!.length}`);
  else t.is(blocks[0]![0]! & 0xe0, 0x20, 'response starts with a table size update');
  if (opts.serverTable === undefined) t.true(requestBlocks[1]!.length < requestBlocks[0]!.length - 100);
  else t.deepEqual(requestBlocks[0]!.subarray(0, 3), hex('3f e1 01'), 'request starts with a table size update to 256');
}

test('interop with node:http2, default 4096-byte tables', (t) => interop(t, {}));
test('interop with node:http2, 256-byte tables both ways (size updates and eviction)', (t) =>
  interop(t, { serverTable: 256, clientTable: 256 }));
