import test from 'ava';
import { cors, addVary } from './index.ts';
import { compileOrigins } from './origins.ts';
import { fakeContext, fakeDeps, type FakeRequest } from '../../../../test/helpers/fake-request.ts';
import { compileSchema } from '../../schema/validate.ts';
import type { LocalReply, PolicyHandlers, ResponseHead } from '../../request/policy.ts';

function make(cfg: Record<string, unknown>): PolicyHandlers {
  const v = compileSchema(cors.schema);
  if (!v(cfg)) throw new Error(JSON.stringify(v.errors));
  return cors.create(cfg as never, fakeDeps());
}

/** A request through the policy: its reply (preflight) or the upstream's head, after the response hook. */
function through(h: PolicyHandlers, r: FakeRequest, upstream: Record<string, string> = {}): { reply: LocalReply | undefined; head: ResponseHead } {
  const ctx = fakeContext(r);
  const reply = h.request!(ctx) as LocalReply | undefined;
  const head: ResponseHead = reply
    ? { status: reply.status ?? 403, headers: { ...(reply.headers ?? {}) }, local: true }
    : { status: 200, headers: { ...upstream }, local: false };
  h.response!(ctx, head);
  return { reply, head };
}

const preflight = (origin: string, extra: Record<string, string> = {}): FakeRequest => ({
  method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'PUT', ...extra },
});

test('origin patterns: exact, *.domain (not the apex, not a look-alike), case-insensitive', (t) => {
  const o = compileOrigins(['https://app.example.com', 'https://*.example.org', 'http://*.local.test:8080']);
  t.true(o.match('https://app.example.com'));
  t.true(o.match('HTTPS://APP.Example.COM'));
  t.false(o.match('http://app.example.com'), 'scheme matters');
  t.false(o.match('https://app.example.com:8443'), 'port matters');
  t.true(o.match('https://a.example.org'));
  t.true(o.match('https://a.b.example.org'));
  t.false(o.match('https://example.org'), 'not the apex');
  t.false(o.match('https://evilexample.org'));
  t.false(o.match('https://a.example.org.evil.net'));
  t.false(o.match('https://x:1@a.example.org'));
  t.false(o.match('https://.example.org'));
  t.false(o.match('https://a..example.org'));
  t.true(o.match('http://x.local.test:8080'));
  t.false(o.match('http://x.local.test'));
  t.true(compileOrigins(['*']).match('null'));
  t.false(o.match('null'));
});

test('schema refuses paths, regexes and bad methods', (t) => {
  const v = compileSchema(cors.schema);
  t.true(v({ origins: ['*', 'null', 'https://a.b', 'https://*.b.c:8443', 'capacitor://localhost'] }) as boolean);
  t.false(v({ origins: ['https://a.b/path'] }) as boolean);
  t.false(v({ origins: ['^https://.*$'] }) as boolean);
  t.false(v({ origins: [] }) as boolean);
  t.false(v({ origins: ['*'], methods: ['get'] }) as boolean);
});

test('preflight from an allowed origin: 204 with the configured answers, never forwarded', (t) => {
  const h = make({ origins: ['https://app.example.com'], methods: ['GET', 'PUT'], headers: ['content-type', 'x-api-key'], maxAge: '10m', exposeHeaders: ['x-request-id'] });
  const { reply, head } = through(h, preflight('https://app.example.com'));
  t.is(reply?.status, 204);
  t.deepEqual(head.headers, {
    'access-control-allow-origin': 'https://app.example.com',
    'access-control-allow-methods': 'GET, PUT',
    'access-control-allow-headers': 'content-type, x-api-key',
    'access-control-max-age': '600',
    vary: 'Origin',
  });
});

test('preflight with no configured headers echoes the requested ones and varies on them', (t) => {
  const h = make({ origins: ['*'] });
  const { head } = through(h, preflight('https://x.test', { 'access-control-request-headers': 'content-type, x-trace' }));
  t.is(head.headers['access-control-allow-origin'], '*');
  t.is(head.headers['access-control-allow-headers'], 'content-type, x-trace');
  t.is(head.headers['access-control-allow-methods'], 'GET, HEAD, PUT, PATCH, POST, DELETE');
  t.is(head.headers.vary, 'Access-Control-Request-Headers');
});

test('preflight from an origin not allowed: 403 without any CORS header', (t) => {
  const h = make({ origins: ['https://app.example.com'] });
  const { reply, head } = through(h, preflight('https://evil.test'));
  t.is(reply?.code, 'GW_FORBIDDEN');
  t.is(head.headers['access-control-allow-origin'], undefined);
  t.is(head.headers['access-control-allow-methods'], undefined);
});

test('a plain OPTIONS (no Origin or no request method) goes to the upstream', (t) => {
  const h = make({ origins: ['*'] });
  t.is(through(h, { method: 'OPTIONS' }).reply, undefined);
  t.is(through(h, { method: 'OPTIONS', headers: { origin: 'https://a.test' } }).reply, undefined);
});

test('credentials: never with *: the origin is echoed, with Vary: Origin', (t) => {
  const h = make({ origins: ['*'], credentials: true, exposeHeaders: ['x-request-id', 'ratelimit'] });
  const { head } = through(h, { headers: { origin: 'https://a.test' } }, { vary: 'Accept-Encoding' });
  t.is(head.headers['access-control-allow-origin'], 'https://a.test');
  t.is(head.headers['access-control-allow-credentials'], 'true');
  t.is(head.headers['access-control-expose-headers'], 'x-request-id, ratelimit');
  t.is(head.headers.vary, 'Accept-Encoding, Origin');
});

test('actual requests: allowed origin gets headers; others get none, and the upstream\'s are removed', (t) => {
  const h = make({ origins: ['https://*.example.com'] });
  const ok = through(h, { headers: { origin: 'https://a.example.com' } });
  t.is(ok.head.headers['access-control-allow-origin'], 'https://a.example.com');
  t.is(ok.head.headers['access-control-allow-credentials'], undefined);
  const bad = through(h, { headers: { origin: 'https://evil.test' } }, { 'access-control-allow-origin': '*', 'access-control-allow-credentials': 'true' });
  t.is(bad.head.headers['access-control-allow-origin'], undefined);
  t.is(bad.head.headers['access-control-allow-credentials'], undefined);
  t.is(bad.head.headers.vary, 'Origin', 'the answer depends on Origin, so caches must know');
  const none = through(h, {});
  t.is(none.head.headers['access-control-allow-origin'], undefined);
});

test('* without credentials: a constant answer, no Vary', (t) => {
  const h = make({ origins: ['*'] });
  const { head } = through(h, { headers: { origin: 'https://a.test' } });
  t.is(head.headers['access-control-allow-origin'], '*');
  t.is(head.headers.vary, undefined);
});

test('addVary keeps existing tokens, skips duplicates and *', (t) => {
  const h: Record<string, string | string[]> = {};
  addVary(h, 'Origin');
  addVary(h, 'Origin');
  t.is(h.vary, 'Origin');
  h.vary = ['accept', 'origin'];
  addVary(h, 'Origin');
  t.deepEqual(h.vary, ['accept', 'origin'], 'already there: left as it was');
  h.vary = '*';
  addVary(h, 'Origin');
  t.is(h.vary, '*');
});

test('shadow mode: the policy still judges preflights (compile counts the refusal and lets it through)', (t) => {
  const h = make({ origins: ['https://a.test'], enforce: false });
  t.is((h.request!(fakeContext(preflight('https://evil.test'))) as LocalReply | undefined)?.code, 'GW_FORBIDDEN');
  t.is((h.request!(fakeContext(preflight('https://a.test'))) as LocalReply | undefined)?.status, 204);
});
