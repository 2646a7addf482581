/**
 * The validate policy through the whole gateway, against a recording upstream. Each test
 * fails if its protection is removed: the upstream must never see an invalid request, and
 * what it sees of a valid one must be the very bytes the gateway validated.
 */
import test from 'ava';
import nodeHttp from 'node:http';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';

let up: TestUpstream;
let gw: TestGateway;

const Pet = {
  type: 'object', required: ['name'], additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1, maxLength: 20 }, role: { type: 'string', enum: ['user'] }, tags: { type: 'array', items: { type: 'string' } } },
};

test.before(async () => {
  up = await startUpstream();
  gw = await startGateway({
    upstreams: { a: { targets: [{ url: up.url }] } },
    routes: {
      items: {
        match: { paths: ['/items/:id'] }, upstream: 'a',
        policies: { validate: { query: { properties: { limit: { type: 'integer', minimum: 1, maximum: 50 } } }, params: { properties: { id: { type: 'integer' } } }, body: Pet, maxBodySize: 1024 } },
      },
      search: { match: { paths: ['/search'] }, upstream: 'a', policies: { validate: { query: { type: 'object', required: ['q'], properties: { q: { type: 'string', maxLength: 10 } } } } } },
      pets: { match: { paths: ['/api/*'] }, upstream: 'a', policies: { validate: { openapi: 'test/fixtures/openapi/pets.yaml', basePath: '/api' } } },
      shadow: { match: { paths: ['/shadow'] }, upstream: 'a', policies: { validate: { enforce: false, body: Pet, maxBodySize: 64 } } },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });
test.beforeEach(() => { up.received.length = 0; });

const JSON_CT = { 'content-type': 'application/json' };

/** A request with a chunked body (no Content-Length), written in the given pieces. */
function chunked(path: string, chunks: Array<string | Buffer>, headers: Record<string, string> = JSON_CT): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = nodeHttp.request(`${gw.url}${path}`, { method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts).toString() }));
    });
    req.on('error', (err) => { if (!req.writableFinished) reject(err); });
    for (const c of chunks) req.write(c);
    req.end();
  });
}

test.serial('invalid query and path parameters: 400 problem+json, upstream never called', async (t) => {
  const r = await http(`${gw.url}/items/abc?limit=500`);
  t.is(r.status, 400);
  t.is(r.headers['content-type'], 'application/problem+json');
  const p = r.json();
  t.is(p.code, 'GW_VALIDATION_FAILED');
  t.deepEqual(p.errors, [{ in: 'query', path: '/limit', message: 'must be <= 50' }, { in: 'params', path: '/id', message: 'must be integer' }]);
  t.is(up.received.length, 0);
  t.is((await http(`${gw.url}/search?q=12345678901`)).status, 400);
  t.is((await http(`${gw.url}/search?q=ok`)).status, 200);
  t.is(up.received.length, 1);
  t.is(up.received[0]!.url, '/search?q=ok');
});

test.serial('valid body: the upstream receives exactly the validated bytes', async (t) => {
  const text = '{ "name":"rex" ,\n\t"tags":["a\\u00e9"] }';
  const r = await http(`${gw.url}/items/7?limit=2`, { method: 'POST', headers: JSON_CT, body: text });
  t.is(r.status, 200);
  t.is(up.received.length, 1);
  t.true(up.received[0]!.body.equals(Buffer.from(text)));
  t.is(up.received[0]!.headers['content-length'], String(Buffer.byteLength(text)));
});

test.serial('chunked body is buffered, validated and forwarded with a Content-Length', async (t) => {
  const r = await chunked('/items/7', ['{"name":', '"rex"', '}']);
  t.is(r.status, 200);
  t.is(up.received.length, 1);
  t.is(up.received[0]!.body.toString(), '{"name":"rex"}');
  t.is(up.received[0]!.headers['content-length'], '14');
  t.is(up.received[0]!.headers['transfer-encoding'], undefined);
});

test.serial('schema violations in the body never reach the upstream', async (t) => {
  const r = await http(`${gw.url}/items/7`, { method: 'POST', headers: JSON_CT, body: '{"name":"rex","role":"admin"}' });
  t.is(r.status, 400);
  t.deepEqual(r.json().errors, [{ in: 'body', path: '/role', message: 'must be equal to one of the allowed values' }]);
  t.is(up.received.length, 0);
});

test.serial('parser differentials are refused: duplicate keys, lone surrogates, invalid UTF-8, BOM', async (t) => {
  const bodies: Array<string | Buffer> = [
    // JSON.parse keeps the last "role" (valid), a first-wins upstream parser would read "admin".
    '{"name":"rex","role":"admin","role":"user"}',
    '{"name":"rex","r\\u006fle":"admin","role":"user"}',
    '{"name":"\\ud800"}',
    Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]),
    Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"name":"rex"}')]),
  ];
  for (const body of bodies) {
    const r = await http(`${gw.url}/items/7`, { method: 'POST', headers: JSON_CT, body });
    t.is(r.status, 400, String(body));
    t.is(r.json().errors[0].in, 'body');
  }
  t.is(up.received.length, 0);
});

test.serial('nesting bomb: refused quickly with 400, gateway stays up', async (t) => {
  const bomb = '['.repeat(500) + ']'.repeat(500);
  const start = performance.now();
  const r = await http(`${gw.url}/items/7`, { method: 'POST', headers: JSON_CT, body: bomb });
  t.is(r.status, 400);
  t.regex(r.json().errors[0].message, /deeper than 32/);
  t.true(performance.now() - start < 1000);
  t.is(up.received.length, 0);
  t.is((await http(`${gw.url}/search?q=x`)).status, 200);
});

test.serial('body size limit: Content-Length and chunked bodies over maxBodySize get 413', async (t) => {
  const big = JSON.stringify({ name: 'x', tags: ['y'.repeat(2000)] });
  const a = await http(`${gw.url}/items/7`, { method: 'POST', headers: JSON_CT, body: big });
  t.is(a.status, 413);
  t.is(a.json().code, 'GW_PAYLOAD_TOO_LARGE');
  const b = await chunked('/items/7', [big.slice(0, 600), big.slice(600)]);
  t.is(b.status, 413);
  t.is(up.received.length, 0);
});

test.serial('media type: 415 for a non-JSON or non-UTF-8 body, and for a content coding', async (t) => {
  for (const headers of [{ 'content-type': 'text/plain' }, { 'content-type': 'application/json; charset=utf-16' }, { ...JSON_CT, 'content-encoding': 'gzip' }, {} as Record<string, string>]) {
    const r = await http(`${gw.url}/items/7`, { method: 'POST', headers, body: '{"name":"rex"}' });
    t.is(r.status, 415, JSON.stringify(headers));
    t.is(r.json().code, 'GW_UNSUPPORTED_MEDIA_TYPE');
  }
  t.is(up.received.length, 0);
});

test.serial('OpenAPI: operation parameters and body checked; unknown operations refused', async (t) => {
  const key = '3b241101-e2bb-4255-8caf-4136c566a962';
  t.is((await http(`${gw.url}/api/pets?limit=5&ids=1,2`)).status, 200);
  t.is((await http(`${gw.url}/api/pets/mine`)).status, 200);
  const bad = await http(`${gw.url}/api/pets?limit=0`);
  t.is(bad.status, 400);
  t.deepEqual(bad.json().errors, [{ in: 'query', path: '/limit', message: 'must be >= 1' }]);
  const created = await http(`${gw.url}/api/pets`, { method: 'POST', headers: { ...JSON_CT, 'idempotency-key': key }, body: '{"name":"rex","age":2}' });
  t.is(created.status, 200);
  const noKey = await http(`${gw.url}/api/pets`, { method: 'POST', headers: JSON_CT, body: '{"name":"rex"}' });
  t.deepEqual(noKey.json().errors, [{ in: 'headers', path: '/idempotency-key', message: 'is required' }]);
  t.is((await http(`${gw.url}/api/unknown`)).status, 400);
  t.is((await http(`${gw.url}/api/pets/1`, { method: 'PUT' })).status, 400);
  t.deepEqual(up.received.map((r) => `${r.method} ${r.url}`), ['GET /api/pets?limit=5&ids=1,2', 'GET /api/pets/mine', 'POST /api/pets']);
});

test.serial('shadow mode: invalid requests pass untouched and are counted', async (t) => {
  const invalid = '{"name":"rex","name":"admin","x":1}';
  const r = await http(`${gw.url}/shadow`, { method: 'POST', headers: JSON_CT, body: invalid });
  t.is(r.status, 200);
  t.is(up.received[0]!.body.toString(), invalid);
  // Over maxBodySize (64) and chunked: the bytes already read are put back, the upstream gets them all.
  const long = JSON.stringify({ name: 'rex', tags: ['z'.repeat(200)] });
  const c = await chunked('/shadow', [long.slice(0, 50), long.slice(50, 120), long.slice(120)]);
  t.is(c.status, 200);
  t.is(up.received[1]!.body.toString(), long);
  const metrics = await http(`${gw.statusUrl}/metrics`);
  t.regex(metrics.body, /gatehouse_policy_decisions_total\{route="shadow",policy="validate",outcome="shadow_deny"\} 2/);
});
