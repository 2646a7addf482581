import test from 'ava';
import pino from 'pino';
import { Writable } from 'node:stream';
import { rateLimit } from './index.ts';
import { compileKey } from './key.ts';
import { policyHeader } from './headers.ts';
import { fakeContext, fakeDeps, type FakeRequest } from '../../../../test/helpers/fake-request.ts';
import { Metrics } from '../../telemetry/metrics.ts';
import { validateConfig } from '../../validation/validate.ts';
import { compileSchema } from '../../schema/validate.ts';
import { LocalCounterStore } from '../../cluster/counters/local/index.ts';
import type { LocalReply, PolicyDeps, PolicyHandlers, ResponseHead } from '../../request/policy.ts';
import type { RequestContext } from '../../request/context.ts';

function setup(cfg: Record<string, unknown>, over: Partial<PolicyDeps> = {}): { h: PolicyHandlers; deps: PolicyDeps } {
  const v = compileSchema(rateLimit.schema);
  if (!v(cfg)) throw new Error(JSON.stringify(v.errors));
  const deps = fakeDeps({ metrics: new Metrics(), routeName: 'api', ...over });
  return { h: rateLimit.create(cfg as never, deps), deps };
}

function call(h: PolicyHandlers, r: FakeRequest = {}, consumer?: string): { ctx: RequestContext; reply: LocalReply | undefined; head: ResponseHead } {
  const ctx = fakeContext(r);
  if (consumer) ctx.consumer = { name: consumer, groups: [] };
  const reply = h.request!(ctx) as LocalReply | undefined;
  // As the pipeline does: the route's constant headers, then the request's, then the reply's.
  const head: ResponseHead = { status: reply ? 429 : 200, headers: { ...(h.responseHeaders ?? {}), ...(ctx.responseHeaders ?? {}), ...(reply?.headers ?? {}) }, local: !!reply };
  h.response?.(ctx, head);
  return { ctx, reply, head };
}

test('schema: the flat form and the list form; neither or both is one clear error', (t) => {
  const route = (p: unknown) => ({ upstreams: { u: { targets: [{ url: 'http://127.0.0.1:1' }] } }, routes: { r: { match: { paths: ['/'] }, upstream: 'u', policies: { 'rate-limit': p } } } });
  t.deepEqual(validateConfig(route({ limit: 100, window: '1m', by: 'consumer', scope: 'cluster' })), []);
  t.deepEqual(validateConfig(route({ limits: [{ limit: 10, window: '1s' }, { limit: 1000, window: '1h', burst: 50 }], by: ['consumer', 'header:x-tenant'] })), []);
  const msg = 'routes.r.policies.rate-limit: needs limit and window, or limits (not both)';
  const fmt = (p: unknown) => validateConfig(route(p)).map((e) => `${e.path}: ${e.message}`);
  t.deepEqual(fmt({}), [msg]);
  t.deepEqual(fmt({ limit: 1 }), [msg]);
  t.deepEqual(fmt({ limit: 1, window: '1s', limits: [{ limit: 1, window: '1s' }] }), [msg]);
  t.deepEqual(fmt({ limit: 1, window: '1s', by: 'cookie' }), ['routes.r.policies.rate-limit.by: must be consumer, ip, route or header:NAME']);
  t.deepEqual(fmt({ limit: 1, window: 'soon' }), ['routes.r.policies.rate-limit.window: must be a duration like 250ms, 5s, 1m or 2h']);
});

test('create refuses duplicate names and a zero window', (t) => {
  t.throws(() => setup({ limits: [{ limit: 1, window: '1s', name: 'a' }, { limit: 2, window: '1m', name: 'a' }] }), { message: /names must be unique/ });
  t.throws(() => setup({ limit: 1, window: '0s' }), { message: /window: must be longer than 0/ });
});

test('headers: RateLimit-Policy and RateLimit on every response, 429 with Retry-After', (t) => {
  const { h } = setup({ limit: 3, window: '1m', by: 'ip' });
  for (let i = 2; i >= 0; i--) {
    const { reply, head } = call(h);
    t.is(reply, undefined);
    t.is(head.headers['ratelimit-policy'], '"default";q=3;w=60');
    t.regex(String(head.headers.ratelimit), new RegExp(`^"default";r=${i};t=(${20 * (3 - i)}|${20 * (3 - i) - 1})$`));
  }
  const { reply, head } = call(h);
  t.is(reply?.code, 'GW_RATE_LIMITED');
  t.is(head.headers['retry-after'], '20');
  t.is(head.headers.ratelimit, '"default";r=0;t=60');
  t.is(head.headers['ratelimit-policy'], '"default";q=3;w=60');
});

test('several limits: all must pass; a refusal names the limit that refused', (t) => {
  const { h } = setup({ limits: [{ limit: 100, window: '1h' }, { limit: 2, window: '1m', name: 'minute' }], by: 'ip' });
  t.is(call(h).head.headers['ratelimit-policy'], '"100-per-1h";q=100;w=3600, "minute";q=2;w=60');
  t.regex(String(call(h).head.headers.ratelimit), /^"100-per-1h";r=98;t=72, "minute";r=0;t=60$/);
  for (let i = 0; i < 5; i++) {
    const { reply, head } = call(h);
    t.is(reply?.code, 'GW_RATE_LIMITED');
    t.is(head.headers.ratelimit, '"minute";r=0;t=60');
  }
  // Refused requests were given back to the hourly limit (test/integration/rate-limit.test.ts
  // checks it across a refill): another client still sees the full hour.
  t.regex(String(call(h, { remoteAddress: '10.0.0.9' }).head.headers.ratelimit), /"100-per-1h";r=99;/);
});

test('a refusal by a later limit gives back what the earlier ones took', (t) => {
  const services = {};
  const { h } = setup({ limits: [{ limit: 10, window: '1h', name: 'hour' }, { limit: 1, window: '1m', name: 'minute' }], by: 'ip' }, { services });
  t.is(call(h).head.headers.ratelimit, '"hour";r=9;t=360, "minute";r=0;t=60');
  for (let i = 0; i < 20; i++) t.is(call(h).reply?.code, 'GW_RATE_LIMITED');
  // The same hourly count, opened on its own (same rule id): 1 admitted, the 20 refused were given back.
  const hour = setup({ limit: 10, window: '1h', name: 'hour', by: 'ip' }, { services });
  t.regex(String(call(hour.h).head.headers.ratelimit), /^"hour";r=8;t=72\d$/);
  h.close!(); hour.h.close!();
});

test('window not in whole seconds: advertised as the same rate per whole seconds', (t) => {
  t.is(policyHeader([{ name: 'a', limit: 5, windowMs: 250 }]), '"a";q=20;w=1');
  t.is(policyHeader([{ name: 'a', limit: 3, windowMs: 1500 }]), '"a";q=4;w=2');
  t.is(policyHeader([{ name: 'a', limit: 10, windowMs: 2000 }]), '"a";q=10;w=2');
});

test('by consumer: one bucket per consumer; none falls back to the client IP, never one shared bucket', (t) => {
  const { h } = setup({ limit: 1, window: '1m' });
  t.is(call(h, {}, 'alice').reply, undefined);
  t.is(call(h, {}, 'alice').reply?.code, 'GW_RATE_LIMITED');
  t.is(call(h, {}, 'bob').reply, undefined);
  t.is(call(h, { remoteAddress: '10.0.0.1' }).reply, undefined, 'anonymous 10.0.0.1');
  t.is(call(h, { remoteAddress: '10.0.0.2' }).reply, undefined, 'anonymous 10.0.0.2 has its own bucket');
  t.is(call(h, { remoteAddress: '10.0.0.1' }).reply?.code, 'GW_RATE_LIMITED');
  t.is(call(h, { remoteAddress: '10.0.0.3' }, '10.0.0.3').reply, undefined, 'a consumer named like an IP is not that IP');
  t.is(call(h, { remoteAddress: '10.0.0.3' }).reply, undefined);
  // The auth policies' `anonymous` consumer means "no credential": still one bucket per client.
  const anon = (ip: string) => { const c = fakeContext({ remoteAddress: ip }); c.consumer = { name: 'guest', groups: [], method: 'anonymous' }; return h.request!(c) as LocalReply | undefined; };
  t.is(anon('10.0.0.4'), undefined);
  t.is(anon('10.0.0.5'), undefined, 'another anonymous client is not refused because of the first');
  t.is(anon('10.0.0.4')?.code, 'GW_RATE_LIMITED');
});

test('key parts: header with IP fallback, route, combinations, long values hashed', (t) => {
  const ctx = (r: FakeRequest, consumer?: string) => { const c = fakeContext(r); if (consumer) c.consumer = { name: consumer, groups: [] }; return c; };
  const hdr = compileKey('header:X-Tenant', 'api');
  t.is(hdr(ctx({ headers: { 'x-tenant': 'acme' } })), 'acme');
  t.is(hdr(ctx({ remoteAddress: '10.1.1.1' })), '\r10.1.1.1');
  t.is(hdr(ctx({ headers: { 'x-tenant': '' }, remoteAddress: '10.1.1.1' })), '\r10.1.1.1', 'empty is missing');
  t.is(compileKey('route', 'api')(ctx({})), 'api');
  t.is(compileKey(['consumer', 'header:x-tenant'], 'api')(ctx({ headers: { 'x-tenant': 'acme' } }, 'alice')), 'alice\nacme');
  t.is(compileKey(['consumer', 'ip'], 'api')(ctx({ remoteAddress: '10.1.1.1' })), '\r10.1.1.1\n10.1.1.1');
  const long = hdr(ctx({ headers: { 'x-tenant': 'x'.repeat(5000) } }));
  t.true(long.length < 60 && long.startsWith('\n#'));
  t.not(long, hdr(ctx({ headers: { 'x-tenant': 'x'.repeat(5001) } })));
});

test('shadow mode: passes nothing to the client but counts what it would refuse', async (t) => {
  const { h, deps } = setup({ limit: 1, window: '1m', by: 'ip', enforce: false });
  t.is(h.response, undefined);
  t.is(h.responseHeaders, undefined);
  const first = call(h);
  t.is(first.reply, undefined);
  t.is(first.ctx.responseHeaders, undefined);
  const second = call(h);
  t.is(second.reply?.code, 'GW_RATE_LIMITED', 'the compile step turns this into a pass and a shadow_deny');
  t.is(second.ctx.responseHeaders, undefined);
  const text = await deps.metrics.render();
  t.regex(text, /gatehouse_rate_limited_total\{route="api",outcome="shadow_limited"\} 1/);
});

test('a reload with the same limit keeps the counts (same services object)', (t) => {
  const services = {};
  const a = setup({ limit: 2, window: '1m', by: 'ip' }, { services });
  call(a.h);
  const b = setup({ limit: 2, window: '1m', by: 'ip' }, { services });
  a.h.close!();
  t.is(call(b.h).reply, undefined);
  t.is(call(b.h).reply?.code, 'GW_RATE_LIMITED');
  const c = setup({ limit: 3, window: '1m', by: 'ip' }, { services });
  t.is(call(c.h).reply, undefined, 'a changed limit starts over');
  b.h.close!(); c.h.close!();
});

test('scope cluster: uses services.clusterCounters; without one, the node store and one warning', (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } }));
  const services: Record<string, unknown> = {};
  setup({ limit: 1, window: '1m', scope: 'cluster' }, { services, logger }).h.close!();
  setup({ limit: 1, window: '1m', scope: 'cluster' }, { services, logger }).h.close!();
  t.true(services.counters instanceof LocalCounterStore);
  t.true(lines.length <= 1, 'logged once per process');
  const cluster = new LocalCounterStore();
  const opened: string[] = [];
  const spy = { kind: 'cluster', open: (r: Parameters<LocalCounterStore['open']>[0]) => { opened.push(r.id); return cluster.open(r); } };
  setup({ limit: 1, window: '1m', scope: 'cluster' }, { services: { clusterCounters: spy } }).h.close!();
  t.is(opened.length, 1);
});

test('flood of 200k distinct keys: keys held never exceed maxKeys; metrics show keys and evictions', async (t) => {
  const { h, deps } = setup({ limit: 10, window: '1m', by: 'header:x-key', maxKeys: 100_000 });
  const headers: Record<string, string> = { 'x-key': '' };
  const ctx = fakeContext({ headers });
  const t0 = performance.now();
  for (let i = 0; i < 200_000; i++) {
    (ctx.req.headers as Record<string, string>)['x-key'] = 'k' + i;
    ctx.responseHeaders = undefined;
    h.request!(ctx);
  }
  t.log(`200k requests in ${Math.round(performance.now() - t0)} ms`);
  const text = await deps.metrics.render();
  t.regex(text, /gatehouse_rate_limit_keys\{route="api",limit="default"\} 100000\n/);
  t.regex(text, /gatehouse_rate_limit_evictions_total\{route="api",limit="default",reason="cap"\} 100000\n/);
  h.close!();
  t.notRegex(await deps.metrics.render(), /gatehouse_rate_limit_keys\{/, 'a closed limit is no longer reported');
});
