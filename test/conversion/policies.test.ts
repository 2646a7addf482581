/**
 * Policies in front of grpc-transcode still apply: key-auth (401 before any gRPC call), acl,
 * a rate limit, and the per-route metrics plus the per-method call counter.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { startBed, type Bed } from './setup.ts';
import { curl, json } from './curl.ts';

const digest = (k: string): string => `sha256:${createHash('sha256').update(k).digest('hex')}`;
let bed: Bed;

test.before(async () => {
  bed = await startBed(
    {
      'key-auth': { header: 'x-api-key' }, acl: { allow: ['readers'] }, 'rate-limit': { limit: 6, window: '1m', by: 'consumer' },
      validate: { body: { type: 'object', properties: { theme: { type: 'string', maxLength: 10 } } } },
    },
    { consumers: { alice: { groups: ['readers'], keys: [digest('alice-key')] }, mallory: { groups: ['other'], keys: [digest('mallory-key')] } } },
  );
});
test.after.always(async () => { await bed?.stop(); });

test('key-auth, acl, validate and rate-limit run before the transcoder; metrics count per route and gRPC method', async (t) => {
  const u = bed.gw.url;
  const before = bed.grpc.seen.metadata.length;
  const none = await curl(`${u}/v1/shelves/1`);
  t.is(none.status, 401);
  t.like(json(none), { code: 'GW_UNAUTHORIZED' });
  const wrongGroup = await curl(`${u}/v1/shelves/1`, { headers: { 'x-api-key': 'mallory-key' } });
  t.is(wrongGroup.status, 403);
  t.is(bed.grpc.seen.metadata.length, before, 'refused requests never reached the gRPC service');
  for (let i = 0; i < 5; i++) t.is((await curl(`${u}/v1/shelves/${i + 1}`, { headers: { 'x-api-key': 'alice-key' } })).status, 200);
  // validate (JSON Schema of the JSON side) runs before the transcoder and hands it the body it checked.
  const long = await curl(`${u}/v1/shelves`, { method: 'POST', body: '{"theme":"far too long a theme"}', headers: { 'x-api-key': 'alice-key', 'content-type': 'application/json' } });
  t.is(long.status, 400);
  t.like(json(long), { code: 'GW_VALIDATION_FAILED' });
  t.is(json(long).errors[0].in, 'body');
  const ok = await curl(`${u}/v1/shelves`, { method: 'POST', body: '{"theme":"short"}', headers: { 'x-api-key': 'alice-key', 'content-type': 'application/json' } });
  t.is(ok.status, 200);
  t.like(json(ok), { theme: 'short' });
  const limited = await curl(`${u}/v1/shelves/9`, { headers: { 'x-api-key': 'alice-key' } });
  t.is(limited.status, 429);
  t.truthy(limited.headers['retry-after']);
  t.is(bed.grpc.seen.metadata.length, before + 6);
  const metrics = await (await fetch(`${bed.gw.statusUrl}/metrics`)).text();
  t.regex(metrics, /gatehouse_grpc_transcode_calls_total\{route="rest",method="bookstore\.v1\.Bookstore\.GetShelf",code="OK"\} 5/);
  t.regex(metrics, /route="rest"/);
});
