// Retries against real upstream servers that fail, hang and recover on command.
import test from 'ava';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';

let a: TestUpstream;
let b: TestUpstream;
let gw: TestGateway;

const quick = { base: '1ms', max: '2ms' };

test.before(async () => {
  a = await startUpstream();
  b = await startUpstream();
  const dead = `http://127.0.0.1:${await freePort()}`;
  gw = await startGateway({
    upstreams: {
      pair: { targets: [{ url: a.url }, { url: b.url }], retries: { attempts: 2, backoff: quick, on: ['connect-error', 'reset', 502, 503, 504] } },
      single: { targets: [{ url: a.url }], retries: { attempts: 3, backoff: quick } },
      posts: { targets: [{ url: a.url }], retries: { attempts: 3, backoff: quick, methods: ['POST'] } },
      deadfirst: { targets: [{ url: dead }, { url: a.url }], timeouts: { connect: '500ms' }, retries: { attempts: 1, backoff: quick } },
      budget: { targets: [{ url: a.url }], retries: { attempts: 3, backoff: quick } },
      pertry: { targets: [{ url: a.url }, { url: b.url }], timeouts: { response: '5s' }, retries: { attempts: 1, backoff: quick, perTryTimeout: '200ms', on: ['timeout'] } },
      stall: { targets: [{ url: a.url }, { url: b.url }], retries: { attempts: 1, backoff: quick, perTryTimeout: '300ms', on: [503] } },
      deadline: { targets: [{ url: a.url }, { url: b.url }], timeouts: { response: '500ms' }, retries: { attempts: 5, backoff: quick, perTryTimeout: '200ms', on: ['timeout'] } },
    },
    routes: {
      ...Object.fromEntries(['pair', 'single', 'posts', 'deadfirst', 'budget', 'pertry', 'deadline', 'stall'].map((n) => [n, { match: { paths: [`/${n}`] }, upstream: n }])),
      // The validate policy buffers the body it checks (ctx.body): such a body can be replayed.
      buffered: { match: { paths: ['/buffered'] }, upstream: 'pair', policies: { validate: { body: { type: 'object' } } } },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await a?.close(); await b?.close(); });
test.beforeEach(() => {
  for (const u of [a, b]) { u.received.length = 0; u.mode = { kind: 'ok' }; delete u.respond; u.release(); }
});

async function metric(name: string, labels: string): Promise<number> {
  const line = (await gw.gw.metrics.render()).split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}
const retried = (up: string) => metric('gatehouse_upstream_retries_total', `upstream="${up}",outcome="retried"`);
const exhausted = (up: string) => metric('gatehouse_upstream_retries_total', `upstream="${up}",outcome="budget_exhausted"`);

test.serial('a failed try is retried on the other target', async (t) => {
  a.mode = { kind: 'status', status: 503 };
  const before = await retried('pair');
  for (let i = 0; i < 10; i++) t.is((await http(`${gw.url}/pair`)).status, 200);
  t.is(b.received.length, 10, 'every request ends on the healthy target');
  t.true(a.received.length >= 1, 'round-robin sent some first tries to the failing one');
  t.is(await retried('pair') - before, a.received.length, 'each failed first try was retried exactly once, on b');
  t.true(b.received.every((r) => r.headers.host === new URL(b.url).host), 'a retry carries the Host of the target it goes to');
  t.true(a.received.every((r) => r.headers.host === new URL(a.url).host));
});

test.serial('one target: retried up to `attempts` times, then the last response passes through', async (t) => {
  a.mode = { kind: 'status', status: 503 };
  const r = await http(`${gw.url}/single`);
  t.is(r.status, 503);
  t.is(r.body, 'status 503', 'the upstream\'s own answer, not a gateway error');
  t.is(a.received.length, 4, 'first try + 3 retries');
});

test.serial('an upstream that recovers mid-way: the retry succeeds', async (t) => {
  let n = 0;
  a.respond = (_r, res) => { if (++n <= 2) { res.writeHead(502); res.end(); } else { res.writeHead(200); res.end('ok'); } };
  const r = await http(`${gw.url}/single`);
  t.is(r.status, 200);
  t.is(r.body, 'ok');
  t.is(a.received.length, 3);
});

test.serial('connection refused by one target: retried on the live one', async (t) => {
  for (let i = 0; i < 6; i++) t.is((await http(`${gw.url}/deadfirst`)).status, 200);
  t.is(a.received.length, 6);
});

test.serial('POST is not retried by default; a streamed body is never replayed', async (t) => {
  a.mode = { kind: 'status', status: 503 };
  t.is((await http(`${gw.url}/single`, { method: 'POST', body: 'x' })).status, 503);
  t.is(a.received.length, 1, 'POST: not idempotent');
  t.is((await http(`${gw.url}/single`, { method: 'PUT', body: 'x' })).status, 503);
  t.is(a.received.length, 2, 'PUT is idempotent but its body streamed through and is gone');
  t.is((await http(`${gw.url}/posts`, { method: 'POST', body: 'x' })).status, 503);
  t.is(a.received.length, 3, 'methods: [POST] does not make a streamed body replayable');
  t.is((await http(`${gw.url}/posts`, { method: 'POST' })).status, 503);
  t.is(a.received.length, 7, 'methods: [POST] without a body: retried 3 times');
  t.is((await http(`${gw.url}/single`, { method: 'DELETE' })).status, 503);
  t.is(a.received.length, 11, 'DELETE without a body: retried');
});

test.serial('a buffered body is replayed on the retry, byte for byte', async (t) => {
  a.mode = { kind: 'status', status: 503 };
  b.mode = { kind: 'status', status: 503 };
  const body = '{"name":"ünïcode","n":1}';
  const r = await http(`${gw.url}/buffered`, { method: 'PUT', body, headers: { 'content-type': 'application/json' } });
  t.is(r.status, 503);
  const all = [...a.received, ...b.received];
  t.is(all.length, 3, 'first try + 2 retries');
  for (const got of all) {
    t.is(got.body.toString('utf8'), body);
    t.is(got.headers['content-length'], String(Buffer.byteLength(body)));
  }
});

test.serial('no retry once the response head went to the client', async (t) => {
  for (const u of [a, b]) u.respond = (_r, res) => { res.writeHead(200, { 'content-length': '100' }); res.write('partial'); setImmediate(() => res.socket?.destroy()); };
  const err = await http(`${gw.url}/pair`).then(() => undefined, (e: Error) => e);
  t.truthy(err, 'the client sees the response cut, not a second response');
  t.is(a.received.length + b.received.length, 1, 'the reset after the head was not retried');
});

test.serial('per-try timeout: a hanging target is left after perTryTimeout and the other answers', async (t) => {
  a.mode = { kind: 'hang' };
  for (let i = 0; i < 4; i++) t.is((await http(`${gw.url}/pertry`)).status, 200);
  t.is(b.received.length, 4);
  t.true(a.received.length >= 1);
});

test.serial('every try timed out: 504 GW_UPSTREAM_TIMEOUT', async (t) => {
  a.mode = { kind: 'hang' };
  b.mode = { kind: 'hang' };
  const r = await http(`${gw.url}/pertry`);
  t.is(r.status, 504);
  t.is(r.json().code, 'GW_UPSTREAM_TIMEOUT');
  t.is(a.received.length + b.received.length, 2, 'first try and one retry, one on each target');
  t.is(a.received.length, 1);
});

test.serial('timeouts.response bounds all tries together', async (t) => {
  a.mode = { kind: 'hang' };
  b.mode = { kind: 'hang' };
  const start = performance.now();
  const r = await http(`${gw.url}/deadline`);
  const took = performance.now() - start;
  t.is(r.status, 504);
  t.is(r.json().code, 'GW_UPSTREAM_TIMEOUT');
  // 200 ms, 200 ms, then the 100 ms left: 3 tries of the 6 that attempts: 5 would allow (2 if
  // the box is slow; on a saturated one a late sweep has been seen to let a 4th start inside
  // the bound). What users rely on is the 504 at the bound, asserted here and below.
  const tries = a.received.length + b.received.length;
  t.true(tries >= 2 && tries <= 4, `${tries} tries`);
  t.true(took >= 490, `took ${took} ms: never before the 500 ms bound`);
  t.true(took < 2000, `took ${took} ms`);
});

test.serial('a retried 503 whose body stalls is cut at the per-try timeout, not held until the idle timeout', async (t) => {
  a.respond = (_r, res) => { res.writeHead(503, { 'content-length': '100' }); res.write('partial'); };
  const start = performance.now();
  for (let i = 0; i < 2; i++) t.is((await http(`${gw.url}/stall`)).status, 200);
  t.true(a.received.length >= 1, 'round-robin sent a first try to the stalling target');
  t.is(b.received.length, 2, 'and every request ended on the other one');
  t.true(performance.now() - start < 2000, 'well under timeouts.idle (60 s)');
});

test.serial('retry budget: 20 concurrent failures get max(3, 20% of 20) = 4 retries, no more', async (t) => {
  const [r0, e0] = [await retried('budget'), await exhausted('budget')];
  a.mode = { kind: 'hold' };
  const responses = Array.from({ length: 20 }, () => http(`${gw.url}/budget`));
  await waitFor(() => a.held.length === 20, { message: '20 first tries held at the upstream' });
  // Fail all 20 at once; retries that arrive now stay held, so they keep their budget slots.
  a.release(503);
  await waitFor(async () => (await retried('budget')) - r0 + (await exhausted('budget')) - e0 === 20, { message: 'every request decided: retried or budget exhausted' });
  t.is(await retried('budget') - r0, 4);
  t.is(await exhausted('budget') - e0, 16);
  await waitFor(() => a.held.length === 4, { message: 'the 4 retries reach the upstream' });
  t.is(a.received.length, 24, 'the upstream saw 20 requests + 4 retries, not 20 × 4');
  a.release(200);
  const statuses = (await Promise.all(responses)).map((r) => r.status).sort();
  t.deepEqual(statuses, [...Array(4).fill(200), ...Array(16).fill(503)]);
  t.is(a.received.length, 24);
});
