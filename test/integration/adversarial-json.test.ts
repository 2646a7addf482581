/**
 * Adversarial suite, part 4: JSON parser differentials through the `validate` policy. The
 * body the gateway validated must be the body the upstream reads, value for value
 * (Bishop Fox, "An Exploration of JSON Interoperability Vulnerabilities", 2021;
 * CVE-2017-12635 CouchDB duplicate keys). Each refusal: the documented 400/415, nothing
 * forwarded; each pass: the upstream got the validated bytes exactly.
 */
import test from 'ava';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { send, assertProblem } from '../helpers/adversary.ts';

let up: TestUpstream;
let gw: TestGateway;

test.before(async () => {
  up = await startUpstream();
  gw = await startGateway({
    upstreams: { a: { targets: [{ url: up.url }] } },
    routes: {
      orders: {
        match: { paths: ['/orders'], methods: ['POST'] }, upstream: 'a',
        policies: {
          validate: {
            body: {
              type: 'object', required: ['role', 'qty'], additionalProperties: false,
              properties: { role: { const: 'user' }, qty: { type: 'integer', minimum: 1, maximum: 10 }, note: { type: 'string', maxLength: 20 }, n: { type: 'number' } },
            },
          },
        },
      },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });
test.beforeEach(() => { up.received.length = 0; });

const post = async (body: string | Buffer, headers: string[] = ['Content-Type: application/json']) => {
  const b = Buffer.from(body as string, typeof body === 'string' ? 'utf8' : undefined);
  return (await send(gw.port, ['POST /orders HTTP/1.1', 'Host: gw.test', 'Connection: close', ...headers, `Content-Length: ${b.length}`], b))[0]!;
};

test.serial('baseline: a valid body is forwarded byte for byte', async (t) => {
  const body = '{"role":"user","qty":3,"note":"caf\u00e9"}';
  const r = await post(body);
  t.is(r.status, 200);
  t.is(up.received[0]!.body.toString('utf8'), body);
  const bad = await post('{"role":"admin","qty":3}');
  assertProblem(t, bad, 400, 'GW_VALIDATION_FAILED');
  t.is(up.received.length, 1);
});

const INVALID: Record<string, string | Buffer> = {
  'duplicate key, last wins in JSON.parse': '{"role":"user","qty":1,"role":"admin"}',
  'duplicate key, first wins elsewhere': '{"role":"admin","qty":1,"role":"user"}',
  'duplicate key spelled with an escape': '{"role":"user","qty":1,"r\\u006fle":"admin"}',
  'duplicate key in a nested object': '{"role":"user","qty":1,"n":1,"note":"x","n":2}',
  'byte order mark': Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"role":"user","qty":1}')]),
  'invalid UTF-8': Buffer.concat([Buffer.from('{"role":"user","qty":1,"note":"'), Buffer.from([0xff]), Buffer.from('"}')]),
  'overlong UTF-8 quote': Buffer.concat([Buffer.from('{"role":"user","qty":1,"note":"a'), Buffer.from([0xc0, 0xa2]), Buffer.from(',"role":"admin"}')]),
  'lone surrogate escape': '{"role":"user","qty":1,"note":"\\ud800"}',
  'number beyond float64 (Infinity)': '{"role":"user","qty":1,"n":1e400}',
  'NaN': '{"role":"user","qty":1,"n":NaN}',
  'comment': '{"role":"user",/*x*/"qty":1}',
  'trailing comma': '{"role":"user","qty":1,}',
  'single quotes': "{'role':'user','qty':1}",
  'two top-level values': '{"role":"user","qty":1}{"role":"admin","qty":1}',
  'unescaped control in a string': '{"role":"user","qty":1,"note":"a\u0001b"}',
  'deep nesting': `{"role":"user","qty":1,"note":${'['.repeat(5000)}${']'.repeat(5000)}}`,
  '__proto__ member': '{"role":"user","qty":1,"__proto__":{"role":"admin"}}',
  'case variant of a key': '{"role":"user","qty":1,"Role":"admin"}',
  'truncated': '{"role":"user","qty":1',
};
for (const [name, body] of Object.entries(INVALID)) {
  test.serial(`refused: ${name}`, async (t) => {
    assertProblem(t, await post(body), 400, 'GW_VALIDATION_FAILED');
    t.is(up.received.length, 0);
  });
}

const UNSUPPORTED: Record<string, string[]> = {
  'text/plain': ['Content-Type: text/plain'],
  'no Content-Type': [],
  'UTF-16 charset': ['Content-Type: application/json; charset=utf-16'],
  'two charset parameters': ['Content-Type: application/json; charset=utf-8; charset=utf-16'],
  'a list of types': ['Content-Type: application/json, text/plain'],
  'gzip Content-Encoding': ['Content-Type: application/json', 'Content-Encoding: gzip'],
  'stacked Content-Encoding': ['Content-Type: application/json', 'Content-Encoding: identity, gzip'],
};
for (const [name, headers] of Object.entries(UNSUPPORTED)) {
  test.serial(`unsupported media: ${name} → 415`, async (t) => {
    assertProblem(t, await post('{"role":"user","qty":1}', headers), 415, 'GW_UNSUPPORTED_MEDIA_TYPE');
    t.is(up.received.length, 0);
  });
}

test.serial('a second Content-Type line: the upstream gets the one that was checked', async (t) => {
  const r = await post('{"role":"user","qty":1}', ['Content-Type: application/json', 'Content-Type: text/plain']);
  if (r.status === 200) t.deepEqual(up.received[0]!.rawHeaders.filter((_, i, a) => i % 2 === 0 && a[i]!.toLowerCase() === 'content-type').length, 1);
  else t.is(up.received.length, 0);
  if (r.status === 200) t.is(up.received[0]!.headers['content-type'], 'application/json');
});

test.serial('a duplicate key split across chunks is still seen', async (t) => {
  const r = (await send(gw.port, ['POST /orders HTTP/1.1', 'Host: gw.test', 'Connection: close', 'Content-Type: application/json', 'Transfer-Encoding: chunked'],
    '10\r\n{"role":"user","\r\n14\r\nqty":1,"role":"admin\r\n2\r\n"}\r\n0\r\n\r\n'))[0]!;
  assertProblem(t, r, 400, 'GW_VALIDATION_FAILED');
  t.is(up.received.length, 0);
});

// 10.0000000000000001 is 10 to JSON.parse (float64) but > 10 to an arbitrary-precision
// reader (Python's Decimal/json with parse_float, Java BigDecimal, Go json.Number): the
// schema's maximum would be checked on a different number than the upstream uses.
// Known gap in validate (policies/validate/json.ts), reported; flips to a pass once fixed.
test('numbers that float64 cannot hold exactly are not validated as their rounded value', async (t) => {
  for (const qty of ['10.0000000000000001', '1.0000000000000001e1', '9007199254740993']) {
    const r = await post(`{"role":"user","qty":${qty}}`);
    assertProblem(t, r, 400, 'GW_VALIDATION_FAILED');
  }
  t.is(up.received.length, 0);
});
