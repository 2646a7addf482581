import test from 'ava';
import { validate } from './index.ts';
import type { PolicyHandlers, HookResult, LocalReply } from '../../request/policy.ts';
import { fakeContext, fakeDeps, type FakeRequest } from '../../../../test/helpers/fake-request.ts';
import type { RequestContext } from '../../request/context.ts';

type Cfg = Parameters<typeof validate.create>[0];
const make = (cfg: Cfg): PolicyHandlers => validate.create(cfg, fakeDeps());

async function run(h: PolicyHandlers, r: FakeRequest): Promise<{ reply: LocalReply | undefined; ctx: RequestContext }> {
  const ctx = fakeContext(r);
  const reply = (await h.request!(ctx)) as LocalReply | undefined;
  return { reply, ctx };
}
const errorsOf = (r: HookResult) => ((r as LocalReply | undefined)?.extra?.errors ?? []) as Array<{ in: string; path: string; message: string }>;

const json = (body: string, extra: Record<string, string> = {}): FakeRequest => ({
  method: 'POST', body, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...extra },
});

test('query: strict coercion of declared types on a copy', async (t) => {
  const h = make({ query: { type: 'object', required: ['limit'], properties: { limit: { type: 'integer', maximum: 50 }, on: { type: 'boolean' }, tag: { type: 'array', items: { type: 'string' } } } } });
  t.is((await run(h, { query: 'limit=10&on=true&tag=a' })).reply, undefined);
  t.is((await run(h, { query: 'limit=10&tag=a&tag=b' })).reply, undefined);
  const { reply, ctx } = await run(h, { query: 'limit=1e1&on=1' });
  t.is(reply?.code, 'GW_VALIDATION_FAILED');
  t.deepEqual(errorsOf(reply), [{ in: 'query', path: '/limit', message: 'must be integer' }, { in: 'query', path: '/on', message: 'must be boolean' }]);
  t.is(ctx.rawQuery, 'limit=1e1&on=1', 'forwarded query untouched');
  t.deepEqual(errorsOf((await run(h, {})).reply), [{ in: 'query', path: '/limit', message: 'is required' }]);
  t.deepEqual(errorsOf((await run(h, { query: 'limit=99' })).reply), [{ in: 'query', path: '/limit', message: 'must be <= 50' }]);
  for (const bad of [' 5', '5 ', '+5', '05', '0x5', '']) t.is((await run(h, { query: `limit=${encodeURIComponent(bad)}` })).reply?.code, 'GW_VALIDATION_FAILED', bad);
});

test('query: a single-valued parameter sent twice is refused (parameter pollution)', async (t) => {
  const h = make({ query: { properties: { user: { type: 'string' } } } });
  t.deepEqual(errorsOf((await run(h, { query: 'user=alice&user=admin' })).reply), [{ in: 'query', path: '/user', message: 'must be a single value' }]);
});

test('query only: a GET is checked synchronously and the body stream is never touched', (t) => {
  const h = make({ query: { properties: { q: { type: 'string' } } } });
  const ctx = fakeContext({ query: 'q=x' });
  const r = h.request!(ctx);
  t.is(r, undefined);
  t.is(ctx.req.readableFlowing, null);
  t.is(ctx.body, undefined);
});

test('params: route parameters, percent-decoded for the check', async (t) => {
  const h = make({ params: { type: 'object', properties: { id: { type: 'integer', minimum: 1 }, name: { type: 'string', pattern: '^[a-z ]+$' } } } });
  t.is((await run(h, { params: { id: '7', name: 'a%20b' } })).reply, undefined);
  t.deepEqual(errorsOf((await run(h, { params: { id: '0', name: 'x' } })).reply), [{ in: 'params', path: '/id', message: 'must be >= 1' }]);
});

test('headers: names are case-insensitive, lists split on commas', async (t) => {
  const h = make({ headers: { type: 'object', required: ['X-Api-Version'], properties: { 'X-Api-Version': { type: 'integer', enum: [1, 2] }, 'x-tags': { type: 'array', items: { type: 'integer' } } } } });
  t.is((await run(h, { headers: { 'x-api-version': '2', 'x-tags': '1, 2,3' } })).reply, undefined);
  t.deepEqual(errorsOf((await run(h, { headers: {} })).reply), [{ in: 'headers', path: '/x-api-version', message: 'is required' }]);
  t.deepEqual(errorsOf((await run(h, { headers: { 'X-API-VERSION': '3' } })).reply), [{ in: 'headers', path: '/x-api-version', message: 'must be equal to one of the allowed values' }]);
});

const Item = { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', maxLength: 5 }, n: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } } } };

test('body: the validated bytes are what is forwarded (ctx.body), exactly', async (t) => {
  const h = make({ body: Item });
  const text = '{ "name" : "rex",\n "n": 1.0 }';
  const { reply, ctx } = await run(h, { ...json(text), body: [text.slice(0, 5), text.slice(5)] });
  t.is(reply, undefined);
  t.true(Buffer.isBuffer(ctx.body));
  t.is(ctx.body!.toString('utf8'), text);
});

test('body: schema errors are JSON pointers', async (t) => {
  const h = make({ body: Item });
  const { reply } = await run(h, json('{"name":"toolong","tags":["a",3],"x":1}'));
  t.is(reply?.code, 'GW_VALIDATION_FAILED');
  t.deepEqual(errorsOf(reply), [
    { in: 'body', path: '/x', message: 'is not allowed' },
    { in: 'body', path: '/name', message: 'must NOT have more than 5 characters' },
    { in: 'body', path: '/tags/1', message: 'must be string' },
  ]);
});

test('body: duplicate keys, BOM, invalid UTF-8, lone surrogates and deep nesting are refused', async (t) => {
  const h = make({ body: true, maxDepth: 4 });
  const cases: Array<[string | Buffer, RegExp]> = [
    ['{"name":"a","name":"b"}', /duplicate name/],
    [Buffer.from('\ufeff{}'), /byte order mark/],
    [Buffer.from([0x7b, 0x22, 0xc0, 0xae, 0x22, 0x3a, 0x31, 0x7d]), /UTF-8/],
    ['{"a":"\\udfff"}', /lone surrogate/],
    ['[[[[[1]]]]]', /deeper than 4/],
    ['{"a":1', /unexpected end/],
  ];
  for (const [body, re] of cases) {
    const len = Buffer.byteLength(body);
    const { reply } = await run(h, { method: 'PUT', body, headers: { 'content-type': 'application/json', 'content-length': String(len) } });
    t.is(reply?.code, 'GW_VALIDATION_FAILED');
    t.regex(errorsOf(reply)[0]!.message, re);
  }
});

test('body: size limit on Content-Length (before reading) and on bytes received (chunked)', async (t) => {
  const h = make({ body: true, maxBodySize: 64 });
  const big = JSON.stringify({ a: 'x'.repeat(100) });
  const cl = await run(h, json(big));
  t.is(cl.reply?.code, 'GW_PAYLOAD_TOO_LARGE');
  t.deepEqual(cl.reply?.headers, { connection: 'close' });
  t.is(cl.ctx.req.readableFlowing, null, 'never read');
  const chunked = await run(h, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body: [big.slice(0, 40), big.slice(40)] });
  t.is(chunked.reply?.code, 'GW_PAYLOAD_TOO_LARGE');
  t.is(chunked.ctx.body, undefined);
  const fits = await run(h, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body: ['{"a":', '1}'] });
  t.is(fits.reply, undefined);
  t.is(fits.ctx.body?.toString(), '{"a":1}');
});

test('shadow mode: a body over the limit is put back on the stream, every byte', async (t) => {
  const h = make({ enforce: false, body: true, maxBodySize: 8 });
  const { reply, ctx } = await run(h, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body: ['{"a":', '"0123456789"', '}'] });
  t.is(reply?.code, 'GW_PAYLOAD_TOO_LARGE');
  t.falsy(reply?.headers);
  const rest: Buffer[] = [];
  for await (const c of ctx.req as AsyncIterable<Buffer>) rest.push(c);
  t.is(Buffer.concat(rest).toString(), '{"a":"0123456789"}');
});

test('body: media type, charset and content coding', async (t) => {
  const h = make({ body: true, contentTypes: ['application/json', 'application/*+json'] });
  const body = '{}';
  const send = (headers: Record<string, string>) => run(h, { method: 'POST', body, headers: { 'content-length': '2', ...headers } });
  t.is((await send({ 'content-type': 'application/json; charset=UTF-8' })).reply, undefined);
  t.is((await send({ 'content-type': 'Application/JSON' })).reply, undefined);
  t.is((await send({ 'content-type': 'application/merge-patch+json' })).reply, undefined);
  t.is((await send({})).reply?.code, 'GW_UNSUPPORTED_MEDIA_TYPE');
  t.is((await send({ 'content-type': 'text/plain' })).reply?.code, 'GW_UNSUPPORTED_MEDIA_TYPE');
  t.is((await send({ 'content-type': 'application/json; charset=iso-8859-1' })).reply?.code, 'GW_UNSUPPORTED_MEDIA_TYPE');
  t.is((await send({ 'content-type': 'application/json; charset=utf-8; charset=utf-16' })).reply?.code, 'GW_UNSUPPORTED_MEDIA_TYPE');
  t.is((await send({ 'content-type': 'application/json', 'content-encoding': 'gzip' })).reply?.code, 'GW_UNSUPPORTED_MEDIA_TYPE');
});

test('body: required for POST/PUT/PATCH by default; a GET without a body passes', async (t) => {
  const h = make({ body: Item });
  t.deepEqual(errorsOf((await run(h, { method: 'POST', headers: { 'content-length': '0' } })).reply), [{ in: 'body', path: '', message: 'is required' }]);
  t.is((await run(h, { method: 'GET' })).reply, undefined);
  const optional = make({ body: Item, bodyRequired: false });
  t.is((await run(optional, { method: 'POST' })).reply, undefined);
  // A GET that does carry a body is validated like any other.
  t.is((await run(h, { ...json('{}'), method: 'GET' })).reply?.code, 'GW_VALIDATION_FAILED');
});

test('contentTypes alone: media type and strict JSON, no schema', async (t) => {
  const h = make({ contentTypes: ['application/json'] });
  t.is((await run(h, json('{"a":1}'))).reply, undefined);
  t.is((await run(h, json('{"a":1,"a":1}'))).reply?.code, 'GW_VALIDATION_FAILED');
  t.is((await run(h, { method: 'POST' })).reply, undefined);
});

test('config errors are refused at load, naming the place', (t) => {
  t.throws(() => make({ body: { type: 'object', minimun: 1 } }), { message: /routes\.r\.policies\.validate\.body: invalid JSON Schema: strict mode: unknown keyword: "minimun"/ });
  t.throws(() => make({ query: { properties: { d: { type: 'string', format: 'no-such-format' } } } }), { message: /unknown format/ });
  t.throws(() => make({}), { message: /nothing to check/ });
  t.throws(() => make({ body: true, contentTypes: ['text/plain'] }), { message: /not a JSON media type/ });
  t.throws(() => make({ openapi: 'x.yaml', query: {} }), { message: /cannot be combined with openapi/ });
  t.throws(() => make({ openapi: 'test/fixtures/openapi/does-not-exist.yaml' }), { message: /validate\.openapi: ENOENT/ });
  t.throws(() => make({ query: {}, basePath: '/v1' }), { message: /openapi only/ });
});

test('errors are capped at 20', async (t) => {
  const h = make({ body: { type: 'array', items: { type: 'integer' } } });
  const { reply } = await run(h, json(JSON.stringify(Array.from({ length: 500 }, () => 'x'))));
  t.is(errorsOf(reply).length, 20);
});

test('a body another policy already buffered is checked as is, never read twice', async (t) => {
  const h = make({ body: Item });
  const ctx = fakeContext({ ...json('{"name":"ok"}'), body: undefined });
  ctx.body = Buffer.from('{"name":"a","name":"b"}');
  const r = (await h.request!(ctx)) as LocalReply | undefined;
  t.regex(errorsOf(r)[0]!.message, /duplicate name/);
  ctx.body = Buffer.from('{"name":"ok"}');
  t.is(await h.request!(ctx), undefined);
});
