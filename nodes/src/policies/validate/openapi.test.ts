import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Writable } from 'node:stream';
import { validate } from './index.ts';
import type { LocalReply, PolicyHandlers } from '../../request/policy.ts';
import { fakeContext, fakeDeps, type FakeRequest } from '../../../../test/helpers/fake-request.ts';

const PETS = 'test/fixtures/openapi/pets.yaml';
const KEY = '3b241101-e2bb-4255-8caf-4136c566a962';

function make(cfg: Record<string, unknown>, logs?: string[]): PolicyHandlers {
  const logger = logs ? pino({ level: 'warn' }, new Writable({ write(c, _e, cb) { logs.push(String(c)); cb(); } })) : pino({ level: 'silent' });
  return validate.create(cfg, fakeDeps({ logger }));
}

async function call(h: PolicyHandlers, r: FakeRequest): Promise<LocalReply | undefined> {
  return (await h.request!(fakeContext(r))) as LocalReply | undefined;
}
const errs = (r: LocalReply | undefined) => (r?.extra?.errors ?? []) as Array<{ in: string; path: string; message: string }>;
const post = (path: string, body: string, headers: Record<string, string> = {}): FakeRequest =>
  ({ method: 'POST', path, body, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers } });

test('operations are matched by method and path template; concrete paths first', async (t) => {
  const h = make({ openapi: PETS });
  t.is(await call(h, { path: '/pets/mine' }), undefined);
  t.is(await call(h, { path: '/pets/12' }), undefined);
  t.deepEqual(errs(await call(h, { path: '/pets/abc' })), [{ in: 'params', path: '/petId', message: 'must be integer' }]);
  t.deepEqual(errs(await call(h, { path: '/pets/0' })), [{ in: 'params', path: '/petId', message: 'must be >= 1' }]);
  t.is(await call(h, { path: '/reports/q.json' }), undefined);
  t.deepEqual(errs(await call(h, { path: '/reports/Q1.json' })), [{ in: 'params', path: '/name', message: 'must match pattern "^[a-z]+$"' }]);
  t.is(await call(h, { method: 'HEAD', path: '/pets/12' }), undefined, 'HEAD falls back to GET');
});

test('a request matching no operation: 400 by default, or passed through', async (t) => {
  const h = make({ openapi: PETS });
  const r = await call(h, { path: '/nope' });
  t.is(r?.code, 'GW_VALIDATION_FAILED');
  t.regex(r!.detail!, /No operation/);
  t.is((await call(h, { method: 'PATCH', path: '/pets/1' }))?.code, 'GW_VALIDATION_FAILED');
  t.is(await call(make({ openapi: PETS, unmatched: 'pass' }), { path: '/nope' }), undefined);
});

test('basePath is stripped before matching', async (t) => {
  const h = make({ openapi: PETS, basePath: '/api/v1/' });
  t.is(await call(h, { path: '/api/v1/pets/1' }), undefined);
  t.is((await call(h, { path: '/api/v1x/pets/1' }))?.code, 'GW_VALIDATION_FAILED');
  t.is((await call(h, { path: '/pets/1' }))?.code, 'GW_VALIDATION_FAILED');
});

test('query parameters: types, exploded and comma-separated arrays', async (t) => {
  const h = make({ openapi: PETS });
  t.is(await call(h, { path: '/pets', query: 'limit=5&tag=a&tag=b&ids=1,2,3' }), undefined);
  t.deepEqual(errs(await call(h, { path: '/pets', query: 'limit=500&ids=1,x' })), [
    { in: 'query', path: '/limit', message: 'must be <= 100' },
    { in: 'query', path: '/ids/1', message: 'must be integer' },
  ]);
});

test('header parameters ($ref to components) and required flags', async (t) => {
  const h = make({ openapi: PETS });
  t.deepEqual(errs(await call(h, post('/pets', '{"name":"rex"}'))), [{ in: 'headers', path: '/idempotency-key', message: 'is required' }]);
  t.deepEqual(errs(await call(h, post('/pets', '{"name":"rex"}', { 'idempotency-key': 'nope' }))), [{ in: 'headers', path: '/idempotency-key', message: 'must match format "uuid"' }]);
  t.is(await call(h, post('/pets', '{"name":"rex"}', { 'Idempotency-Key': KEY })), undefined);
  t.deepEqual(errs(await call(h, { method: 'DELETE', path: '/pets/3', headers: { 'x-reason': 'bored' } })), [{ in: 'headers', path: '/x-reason', message: 'must be equal to one of the allowed values' }]);
});

test('requestBody: $ref chain, OAS 3.0 nullable and boolean exclusiveMinimum', async (t) => {
  const h = make({ openapi: PETS });
  const k = { 'idempotency-key': KEY };
  t.is(await call(h, post('/pets', '{"name":"rex","tag":null,"age":1}', k)), undefined);
  t.deepEqual(errs(await call(h, post('/pets', '{"name":"rex","age":0}', k))), [{ in: 'body', path: '/age', message: 'must be > 0' }]);
  t.deepEqual(errs(await call(h, post('/pets', '{"name":"rex","owner":"x"}', k))), [{ in: 'body', path: '/owner', message: 'is not allowed' }]);
  t.is(await call(h, post('/pets', '{"name":"rex","x-note":"a property, not an extension"}', k)), undefined);
  t.deepEqual(errs(await call(h, { method: 'POST', path: '/pets', headers: { ...k, 'content-length': '0' } })), [{ in: 'body', path: '', message: 'is required' }]);
});

test('recursive schemas through components', async (t) => {
  const h = make({ openapi: PETS });
  const put = (b: string) => call(h, { ...post('/trees', b), method: 'PUT' });
  t.is(await put('{"value":1,"children":[{"value":2,"children":[{"value":3}]}]}'), undefined);
  t.deepEqual(errs(await put('{"value":1,"children":[{"value":2,"children":[{"value":"x"}]}]}')), [{ in: 'body', path: '/children/0/children/0/value', message: 'must be integer' }]);
});

test('bodies: none expected, non-JSON media types checked for type only', async (t) => {
  const h = make({ openapi: PETS });
  t.deepEqual(errs(await call(h, { ...post('/pets/mine', '{}'), method: 'GET' })), [{ in: 'body', path: '', message: 'no request body is expected' }]);
  t.is(await call(h, { method: 'POST', path: '/uploads', body: 'raw', headers: { 'content-type': 'application/octet-stream', 'content-length': '3' } }), undefined);
  t.is((await call(h, post('/uploads', '{}')))?.code, 'GW_UNSUPPORTED_MEDIA_TYPE');
});

test('OpenAPI 3.1 (JSON file): type arrays, numeric exclusiveMinimum, +json media type', async (t) => {
  const h = make({ openapi: 'test/fixtures/openapi/orders-3.1.json' });
  const patch = (path: string, b: string) => call(h, { method: 'PATCH', path, body: b, headers: { 'content-type': 'application/merge-patch+json', 'content-length': String(b.length) } });
  t.is(await patch('/orders/o-1', '{"note":null,"quantity":2}'), undefined);
  t.deepEqual(errs(await patch('/orders/o-1', '{"quantity":0}')), [{ in: 'body', path: '/quantity', message: 'must be > 0' }]);
  t.deepEqual(errs(await patch('/orders/x', '{}')), [{ in: 'params', path: '/id', message: 'must match pattern "^o-[0-9]+$"' }]);
});

test('load-time warnings: unknown formats and cookie parameters are not validated', (t) => {
  const logs: string[] = [];
  make({ openapi: PETS }, logs);
  t.true(logs.some((l) => l.includes('colour-name')));
  t.true(logs.some((l) => l.includes('cookie parameters')));
});

function spec(doc: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'gh-openapi-'));
  const f = join(dir, 'api.yaml');
  writeFileSync(f, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return f;
}
const op = (extra: Record<string, unknown>) => ({ openapi: '3.0.3', info: { title: 't', version: '1' }, paths: { '/x/{id}': { get: { responses: {}, ...extra } } } });

test('what cannot be enforced is refused at load', (t) => {
  const refuse = (doc: unknown, re: RegExp) => t.throws(() => make({ openapi: spec(doc) }), { message: re });
  refuse({ swagger: '2.0' }, /not an OpenAPI 3\.0 or 3\.1/);
  refuse(op({ parameters: [{ name: 'q', in: 'query', schema: { $ref: 'other.yaml#/Q' } }] }), /only \$refs to #\/components\/schemas/);
  refuse(op({ parameters: [{ $ref: '#/components/parameters/Missing' }] }), /does not resolve/);
  refuse(op({ parameters: [{ name: 'q', in: 'query', style: 'deepObject', schema: { type: 'object' } }] }), /object-valued query/);
  refuse(op({ parameters: [{ name: 'q', in: 'query', content: { 'application/json': {} } }] }), /only parameters with a schema/);
  refuse(op({ parameters: [{ name: 'other', in: 'path', required: true, schema: { type: 'string' } }] }), /path parameter "other" is not in the path template/);
  refuse(op({ requestBody: { content: { 'application/json': { schema: { type: 'object', minimun: 1 } } } } }), /unknown keyword: "minimun"/);
  refuse('openapi: 3.0.3\nopenapi: 3.1.0\n', /Map keys must be unique/);
});

test('a deliberately cyclic $ref chain is refused, not looped on', (t) => {
  const doc = op({ parameters: [{ $ref: '#/components/parameters/A' }] }) as any;
  doc.components = { parameters: { A: { $ref: '#/components/parameters/B' }, B: { $ref: '#/components/parameters/A' } } };
  t.throws(() => make({ openapi: spec(doc) }), { message: /circular/ });
});
