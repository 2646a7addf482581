/**
 * grpc-transcode end to end: curl → gateway → a real @grpc/grpc-js server, one test per
 * google.api.http mapping rule of proto/bookstore/v1/bookstore.proto, the proto3 JSON
 * mapping, streaming both ways, metadata, and every documented failure status.
 */
import test from 'ava';
import { startBed, type Bed } from './setup.ts';
import { curl, json } from './curl.ts';
import { waitFor } from '../helpers/wait.ts';

let bed: Bed;
let u: string;

test.before(async () => {
  bed = await startBed();
  u = bed.gw.url;
});
test.after.always(async () => { await bed?.stop(); });

const JSON_CT = { 'content-type': 'application/json' };

test('GET with no variables: Empty request, repeated messages, int64 as strings', async (t) => {
  const r = await curl(`${u}/v1/shelves`);
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json');
  t.deepEqual(json(r), { shelves: [{ id: '1', theme: 'fiction' }, { id: '2', theme: 'history' }] });
});

test('GET with a path variable fills an int64 field', async (t) => {
  const r = await curl(`${u}/v1/shelves/5`);
  t.is(r.status, 200);
  t.deepEqual(json(r), { id: '5', theme: 'theme-5' });
});

test('DELETE on a template binds the same variable; Empty answers {}', async (t) => {
  const r = await curl(`${u}/v1/shelves/31`, { method: 'DELETE' });
  t.is(r.status, 200);
  t.deepEqual(json(r), {});
  t.true(bed.grpc.seen.deleted.includes('31'));
});

test('{name=shelves/*/books/*} captures several segments; enums print by name', async (t) => {
  const r = await curl(`${u}/v1/shelves/1/books/2`);
  t.is(r.status, 200);
  t.deepEqual(json(r), { id: '2', shelf: '1', title: 'shelves/1/books/2', genre: 'FICTION' });
  t.is((await curl(`${u}/v1/shelves/1/books`)).status, 404); // one segment short: no binding
});

test('POST with body: "field": the JSON body is that field; Timestamp prints as RFC 3339', async (t) => {
  const r = await curl(`${u}/v1/shelves`, { method: 'POST', body: '{"theme":"poetry"}', headers: JSON_CT });
  t.is(r.status, 200);
  t.deepEqual(json(r), { id: '99', theme: 'poetry', created: '2023-11-14T22:13:20.500Z' });
});

test('PATCH with nested fields in the path and body "book"', async (t) => {
  const r = await curl(`${u}/v1/shelves/4/books/8`, { method: 'PATCH', body: '{"title":"New","readTime":"90.5s","rating":5}', headers: JSON_CT });
  t.is(r.status, 200);
  t.deepEqual(json(r), { id: '8', shelf: '4', title: 'New', readTime: '90.500s', rating: 5 });
});

test('additional_bindings: PUT with body "*", path field merged in, FieldMask in lowerCamel', async (t) => {
  const r = await curl(`${u}/v1/books/6`, { method: 'PUT', body: '{"book":{"title":"T","tags":["a","b"]},"updateMask":"title,displayName"}', headers: JSON_CT });
  t.is(r.status, 200);
  t.deepEqual(json(r), { id: '6', title: 'T', tags: ['a', 'b'], author: 'title,display_name' });
});

test('custom verb; unbound fields from the query: repeated, nested a.b.c, enums by name and number, Timestamp, bool', async (t) => {
  const q = 'query=dune&authors=herbert&authors=anderson&filter.pages.min=100&filter.pages.max=900&filter.genre=HISTORY&page_size=20&published_after=2020-05-01T10:00:00%2B02:00&available=true&genres=1&genres=SCIENCE';
  const r = await curl(`${u}/v1/books:search?${q}`);
  t.is(r.status, 200, r.body);
  t.deepEqual(json(r), {
    echo: {
      query: 'dune', authors: ['herbert', 'anderson'], filter: { pages: { min: 100, max: 900 }, genre: 'HISTORY' },
      pageSize: 20, publishedAfter: '2020-05-01T08:00:00Z', available: true, genres: ['FICTION', 'SCIENCE'],
    },
  });
});

test('a variable followed by a custom verb, body "*"', async (t) => {
  const r = await curl(`${u}/v1/shelves/3/books/9:publish`, { method: 'POST', body: '{"when":"2024-01-01T00:00:00.25Z"}', headers: JSON_CT });
  t.is(r.status, 200);
  t.deepEqual(json(r), { title: 'shelves/3/books/9', tags: ['1704067200', '250000000'] });
});

test('a custom HTTP method (custom: {kind: PURGE})', async (t) => {
  const r = await curl(`${u}/v1/shelves/4/cache`, { method: 'PURGE' });
  t.is(r.status, 200);
  t.deepEqual(json(r), { shelf: '4', purged: 3 });
});

test('google.api.HttpBody response: raw bytes with its content type', async (t) => {
  const r = await curl(`${u}/v1/shelves/1/books/2/cover`);
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'image/png');
  t.is(r.body, 'PNG 1/2');
});

test('google.api.HttpBody request: body "cover" takes the raw bytes and content type', async (t) => {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]);
  const r = await curl(`${u}/v1/shelves/1/books/2/cover`, { method: 'PUT', body: png, headers: { 'content-type': 'image/png' } });
  t.is(r.status, 200);
  const c = bed.grpc.seen.covers.at(-1)!;
  t.is(c.content_type, 'image/png');
  t.deepEqual(Buffer.from(c.data), png);
});

test('response_body: only that field of the response is the body', async (t) => {
  const r = await curl(`${u}/v1/envelopes/shelves/1/books/7`);
  t.is(r.status, 200);
  t.deepEqual(json(r), { title: 'shelves/1/books/7' });
});

test('server streaming: NDJSON by default, text/event-stream when asked', async (t) => {
  const r = await curl(`${u}/v1/shelves/3:watch`);
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/x-ndjson');
  t.deepEqual(r.body.trim().split('\n').map((l) => JSON.parse(l)), [1, 2, 3].map((i) => ({ id: String(i), shelf: '3', title: `book ${i}` })));
  const s = await curl(`${u}/v1/shelves/3:watch`, { headers: { accept: 'text/event-stream' } });
  t.is(s.headers['content-type'], 'text/event-stream');
  t.deepEqual(s.body.split('\n\n').filter(Boolean).map((e) => JSON.parse(e.replace(/^data: /, '')).title), ['book 1', 'book 2', 'book 3']);
});

test('server streaming: an error after messages is the last NDJSON line / an SSE error event', async (t) => {
  const r = await curl(`${u}/v1/shelves/13:watch`);
  t.is(r.status, 200);
  const lines = r.body.trim().split('\n').map((l) => JSON.parse(l));
  t.is(lines.length, 3);
  t.like(lines[2].error, { status: 409, 'grpc-status': 10, 'grpc-code': 'ABORTED', 'grpc-message': 'shelf 13 burned down' });
  const s = await curl(`${u}/v1/shelves/13:watch`, { headers: { accept: 'text/event-stream' } });
  t.regex(s.body, /event: error\ndata: \{.*"grpc-code":"ABORTED"/);
});

test('client streaming from an NDJSON body', async (t) => {
  const body = '{"title":"a"}\n{"title":"b"}\n\n{"title":"c"}\n';
  const r = await curl(`${u}/v1/books:import`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
  t.is(r.status, 200);
  t.deepEqual(json(r), { count: 3, titles: ['a', 'b', 'c'] });
  const bad = await curl(`${u}/v1/books:import`, { method: 'POST', body: '{"title":"a"}\n{"title":5}\n', headers: { 'content-type': 'application/x-ndjson' } });
  t.is(bad.status, 400);
  t.deepEqual(json(bad).errors, [{ in: 'body', path: '(message 2).title', message: 'must be a string' }]);
});

test('a method without a rule is bound to POST /pkg.Service/Method; the canonical JSON mapping round-trips', async (t) => {
  const everything = {
    i32: -5, i64: '-9007199254740993', u64: '18446744073709551615', s64: '-3', f64: '42', dbl: 1.5, flt: 'Infinity', flag: true,
    text: 'héllo', data: 'AAEC/w==', genre: 'SCIENCE', longs: ['1', '2'], counts: { a: 1 }, namesById: { 5: 'five', '-1': 'minus' },
    choiceText: 'x', at: '2024-02-03T04:05:06.123456Z', took: '-1.000000001s', mask: 'a.bC,d', maybeLong: '7', maybeText: '', maybeFlag: false,
    meta: { nested: { list: [1, 'a', null, true] } }, anything: ['x', 2], list: [{ k: 'v' }],
    packed: { '@type': 'type.googleapis.com/bookstore.v1.Book', title: 'inside', pages: 3 },
    book: { title: 'b', genre: 'FICTION' }, opt: 0, books: [{ id: '1' }], byFlag: { true: 'yes', false: 'no' },
  };
  const r = await curl(`${u}/bookstore.v1.Bookstore/Echo`, { method: 'POST', body: JSON.stringify(everything), headers: JSON_CT });
  t.is(r.status, 200, r.body);
  const back = json(r);
  t.deepEqual(back, { ...everything, f64: '42', namesById: { 5: 'five', '-1': 'minus' } });
  // Numbers for enums and 64-bit numbers as JSON numbers are accepted on input.
  const n = await curl(`${u}/bookstore.v1.Bookstore/Echo`, { method: 'POST', body: '{"genre":2,"i64":12,"packed":{"@type":"type.googleapis.com/google.protobuf.Duration","value":"3s"}}', headers: JSON_CT });
  t.deepEqual(json(n), { genre: 'HISTORY', i64: '12', packed: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '3s' } });
});

test('print options: proto field names and default values', async (t) => {
  const r = await curl(`${u}/users/v1/users`, { method: 'POST', body: '{"name":"Lin"}', headers: JSON_CT });
  t.is(r.status, 200);
  t.deepEqual(json(r), { id: '3', name: 'Lin', email: '' }); // defaults printed; unset message fields are not
  const g = await curl(`${u}/users/v1/users/1`);
  t.deepEqual(json(g), { id: '1', name: 'Ada', email: 'ada@example.com', created_at: '2023-11-14T22:13:20Z' });
});

test('request headers on the allow list become metadata; response metadata comes back as headers', async (t) => {
  const r = await curl(`${u}/v1/shelves/2`, { headers: { 'x-tenant': 'acme', 'x-secret': 'no', 'x-request-id': 'req-abc-123' } });
  t.is(r.status, 200);
  t.is(r.headers['x-tenant-echo'], 'acme');
  t.is(r.headers['x-served-by'], 'grpc-js');
  const md = bed.grpc.seen.metadata.find((m) => m.get('x-tenant')[0] === 'acme')!;
  t.truthy(md);
  t.deepEqual(md.get('x-secret'), []);
  t.is(md.get('x-request-id')[0], 'req-abc-123');
  t.regex(String(md.get('traceparent')[0]), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
});

test('gRPC status → HTTP status, problem+json with grpc-status, grpc-message and decoded details; trailers as headers', async (t) => {
  const nf = await curl(`${u}/v1/shelves/404`);
  t.is(nf.status, 404);
  t.is(nf.headers['content-type'], 'application/problem+json');
  t.like(json(nf), { code: 'GW_GRPC_STATUS', status: 404, 'grpc-status': 5, 'grpc-code': 'NOT_FOUND', 'grpc-message': 'shelf 404 does not exist' });
  const table: Array<[number, number]> = [[1, 499], [2, 500], [3, 400], [5, 404], [6, 409], [7, 403], [8, 429], [9, 400], [10, 409], [11, 400], [12, 501], [13, 500], [14, 503], [15, 500], [16, 401]];
  for (const [code, http] of table) {
    const r = await curl(`${u}/v1/fail`, { method: 'POST', body: JSON.stringify({ code, message: `m${code}` }), headers: JSON_CT });
    t.is(r.status, http, `grpc ${code}`);
    t.like(json(r), { 'grpc-status': code, 'grpc-message': `m${code}` });
  }
  const d = await curl(`${u}/v1/fail`, { method: 'POST', body: '{"code":3,"message":"bad title","withDetails":true}', headers: JSON_CT });
  t.is(d.status, 400);
  t.is(d.headers['x-failure'], 'yes');
  t.deepEqual(json(d).details, [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'title', description: 'must not be empty' }] }]);
});

test('malformed JSON, wrong types, unknown fields and bad query parameters: 400 with paths', async (t) => {
  const cases: Array<[string, string, string, unknown[]]> = [
    ['POST', '/v1/shelves', '{bad', [{ in: 'body', path: '', message: 'malformed JSON' }]],
    ['POST', '/v1/shelves', '{"theme":5}', [{ in: 'body', path: 'theme', message: 'must be a string' }]],
    ['POST', '/v1/shelves', '{"theme":"x","colour":"red"}', [{ in: 'body', path: 'colour', message: 'unknown field' }]],
    ['POST', '/bookstore.v1.Bookstore/Echo', '{"i32":1.5,"i64":"12x","genre":"NOPE","at":"yesterday","book":{"pages":"many"},"choiceText":"a","choiceNumber":1}', [
      { in: 'body', path: 'i32', message: 'must be an integer (int32)' },
      { in: 'body', path: 'i64', message: 'must be an integer (int64, a JSON string or number)' },
      { in: 'body', path: 'genre', message: 'unknown value "NOPE" of enum Genre' },
      { in: 'body', path: 'at', message: 'must be an RFC 3339 timestamp like 2024-01-31T12:00:00Z' },
      { in: 'body', path: 'book.pages', message: 'must be an integer (int32)' },
      { in: 'body', path: 'choiceNumber', message: 'only one of the "choice" fields may be set (also "choice_text")' },
    ]],
    ['GET', '/v1/books:search?nope=1', '', [{ in: 'query', path: 'nope', message: 'unknown field' }]],
    ['GET', '/v1/books:search?page_size=ten', '', [{ in: 'query', path: 'page_size', message: 'must be an integer (int32)' }]],
    ['GET', '/v1/shelves/abc', '', [{ in: 'path', path: 'shelf', message: 'must be an integer (int64, a JSON string or number)' }]],
  ];
  for (const [method, path, body, errors] of cases) {
    const r = await curl(u + path, { method, ...(body ? { body, headers: JSON_CT } : {}) });
    t.is(r.status, 400, path);
    t.like(json(r), { code: 'GW_VALIDATION_FAILED' });
    t.deepEqual(json(r).errors, errors, `${method} ${path} ${body}`);
  }
  const ct = await curl(`${u}/v1/shelves`, { method: 'POST', body: 'theme=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.is(ct.status, 415);
});

test('no binding for the path: 404; a binding for another method: 405 with Allow', async (t) => {
  const r = await curl(`${u}/v1/nothing/here`);
  t.is(r.status, 404);
  t.like(json(r), { code: 'GW_ROUTE_NOT_FOUND' });
  const m = await curl(`${u}/v1/shelves`, { method: 'PATCH' });
  t.is(m.status, 405);
  t.is(m.headers.allow, 'GET, POST');
});

test('an oversize body is 413 before any gRPC call', async (t) => {
  const big = JSON.stringify({ theme: 'x'.repeat(5 * 1024 * 1024) });
  const r = await curl(`${u}/v1/shelves`, { method: 'POST', body: big, headers: JSON_CT });
  t.is(r.status, 413);
  t.like(json(r), { code: 'GW_PAYLOAD_TOO_LARGE' });
});

test('upstream too slow: 504; the node keeps serving', async (t) => {
  const r = await curl(`${u}/slow/v1/shelves/7`); // the server answers after 3 s; this route's policy timeout is 1 s
  t.is(r.status, 504);
  t.like(json(r), { code: 'GW_UPSTREAM_TIMEOUT' });
  t.is((await curl(`${u}/v1/shelves/8`)).status, 200);
});

test('upstream refusing connections: 502 GW_UPSTREAM_UNAVAILABLE without the target in the answer', async (t) => {
  const r = await curl(`${u}/dead/v1/users/1`);
  t.is(r.status, 502);
  t.like(json(r), { code: 'GW_UPSTREAM_UNAVAILABLE' });
  t.notRegex(r.body, /127\.0\.0\.1|ECONNREFUSED/);
});

test('a client leaving a stream cancels the gRPC call; the node keeps serving', async (t) => {
  const ac = new AbortController();
  const res = await fetch(`${u}/v1/shelves/99:watch`, { signal: ac.signal });
  t.is(res.status, 200);
  const reader = res.body!.getReader();
  const first = await reader.read();
  t.regex(Buffer.from(first.value!).toString(), /"title":"tick 1"/);
  ac.abort();
  await waitFor(() => bed.grpc.seen.cancelled.includes('99'), { timeout: 10_000, message: 'the upstream stream cancelled' });
  t.is((await curl(`${u}/v1/shelves/2`)).status, 200);
});
