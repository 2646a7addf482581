/**
 * The cache policy in front of grpc-transcode: a transcoded GET that succeeded (grpc-status
 * 0) is stored and answered from the cache without a second gRPC call; errors and streams
 * are not stored; the route's ttl bounds the freshness; a transcoded POST invalidates.
 * Calls are counted at the real gRPC server (each handler records the call's metadata).
 */
import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBed, type Bed } from './setup.ts';
import { curl, json } from './curl.ts';

let bed: Bed;
test.before(async () => { bed = await startBed({ cache: { ttl: '3s' } }); });
test.after.always(async () => { await bed?.stop(); });

const calls = (): number => bed.grpc.seen.metadata.length;

test.serial('a transcoded GET is stored: the second GET is a HIT without a gRPC call', async (t) => {
  const before = calls();
  const a = await curl(`${bed.gw.url}/v1/shelves/5`);
  t.is(a.status, 200, a.body);
  t.is(a.headers['x-cache'], 'MISS');
  t.deepEqual(json(a), { id: '5', theme: 'theme-5' });
  const b = await curl(`${bed.gw.url}/v1/shelves/5`);
  t.is(b.status, 200);
  t.is(b.headers['x-cache'], 'HIT');
  t.is(b.body, a.body);
  t.is(b.headers['content-type'], 'application/json');
  t.is(b.headers['x-served-by'], 'grpc-js'); // the service's response metadata is stored with it
  t.not(b.headers['x-request-id'], a.headers['x-request-id']);
  t.is(calls() - before, 1);
  // Another path is another key: a call of its own.
  const c = await curl(`${bed.gw.url}/v1/shelves/6`);
  t.is(c.headers['x-cache'], 'MISS');
  t.is(calls() - before, 2);
});

test.serial('the ttl bounds freshness; then the next GET calls the service again', async (t) => {
  const before = calls();
  t.is((await curl(`${bed.gw.url}/v1/shelves/8`)).headers['x-cache'], 'MISS');
  t.is((await curl(`${bed.gw.url}/v1/shelves/8`)).headers['x-cache'], 'HIT');
  t.is(calls() - before, 1);
  await sleep(3100); // past the ttl (the Date the service sent may make the age up to 1 s older)
  const late = await curl(`${bed.gw.url}/v1/shelves/8`);
  t.is(late.status, 200);
  t.is(late.headers['x-cache'], 'MISS');
  t.is(calls() - before, 2);
});

test.serial('a gRPC error status is never stored: each GET is a call', async (t) => {
  const before = calls();
  for (let i = 0; i < 2; i++) {
    const r = await curl(`${bed.gw.url}/v1/shelves/404`);
    t.is(r.status, 404);
    t.is(r.headers['x-cache'], 'MISS');
    t.like(json(r), { code: 'GW_GRPC_STATUS', 'grpc-code': 'NOT_FOUND' });
  }
  t.is(calls() - before, 2);
});

test.serial('a server stream is never stored', async (t) => {
  const before = calls();
  for (let i = 0; i < 2; i++) {
    const r = await curl(`${bed.gw.url}/v1/shelves/3:watch`);
    t.is(r.status, 200);
    t.is(r.body.trim().split('\n').length, 3);
    t.not(r.headers['x-cache'], 'HIT');
  }
  t.is(calls() - before, 2);
});

test.serial('a client asking for a fresh answer (no-cache) gets a new call', async (t) => {
  await curl(`${bed.gw.url}/v1/shelves/11`);
  const before = calls();
  const r = await curl(`${bed.gw.url}/v1/shelves/11`, { headers: { 'cache-control': 'no-cache' } });
  t.is(r.status, 200);
  t.not(r.headers['x-cache'], 'HIT');
  t.is(calls() - before, 1);
});

test.serial('a successful transcoded POST invalidates the stored GET of its URL', async (t) => {
  await curl(`${bed.gw.url}/v1/shelves`);
  t.is((await curl(`${bed.gw.url}/v1/shelves`)).headers['x-cache'], 'HIT');
  const p = await curl(`${bed.gw.url}/v1/shelves`, { method: 'POST', body: '{"theme":"poetry"}', headers: { 'content-type': 'application/json' } });
  t.is(p.status, 200, p.body);
  const before = calls();
  const g = await curl(`${bed.gw.url}/v1/shelves`);
  t.is(g.headers['x-cache'], 'MISS');
  t.is(calls() - before, 1);
});
