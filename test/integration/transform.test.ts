// request-transform and response-transform end to end: what the upstream receives and
// what the client gets.
import test from 'ava';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';

let up: TestUpstream;
let gw: TestGateway;

test.before(async () => {
  up = await startUpstream();
  up.respond = (_r, res) => { res.writeHead(200, [['server', 'internal/1.2'], ['x-upstream-id', 'u-7'], ['set-cookie', 'a=1'], ['content-length', '2']]); res.end('ok'); };
  gw = await startGateway({
    upstreams: { a: { targets: [{ url: up.url }] } },
    routes: {
      users: {
        match: { paths: ['/users/:id/*'] }, upstream: 'a',
        policies: {
          'request-transform': {
            headers: { remove: ['x-debug'], rename: { 'x-user-token': 'authorization' }, set: { 'x-env': 'prod' }, add: { 'x-tags': 'via-gateway' } },
            query: { remove: ['api_key'], set: { version: '2' } },
            path: '/v2/accounts/:id/*',
          },
          'response-transform': { headers: { remove: ['server'], rename: { 'x-upstream-id': 'x-backend-id' }, set: { 'x-frame-options': 'DENY' }, add: { 'set-cookie': 'gw=1' } } },
        },
      },
    },
  });
});
test.after.always(async () => { await gw?.stop(); await up?.close(); });

test.serial('the upstream gets the transformed path, query and headers', async (t) => {
  await http(`${gw.url}/users/42/files/a.txt?api_key=s3cret&x=%2F1&version=1`, {
    headers: { 'x-debug': '1', 'x-user-token': 'Bearer abc', 'x-tags': 'client', 'x-env': 'dev' },
  });
  const got = up.received.at(-1)!;
  t.is(got.url, '/v2/accounts/42/files/a.txt?x=%2F1&version=2');
  t.is(got.headers['x-debug'], undefined);
  t.is(got.headers['x-user-token'], undefined);
  t.is(got.headers.authorization, 'Bearer abc');
  t.is(got.headers['x-env'], 'prod');
  t.is(got.headers['x-tags'], 'client, via-gateway');
});

test.serial('the client gets the transformed response headers', async (t) => {
  const r = await http(`${gw.url}/users/1/x`);
  t.is(r.status, 200);
  t.is(r.headers.server, undefined);
  t.is(r.headers['x-upstream-id'], undefined);
  t.is(r.headers['x-backend-id'], 'u-7');
  t.is(r.headers['x-frame-options'], 'DENY');
  t.deepEqual(r.headers['set-cookie'], ['a=1', 'gw=1']);
});
