/**
 * A service in another language: Python grpcio (Debian's /usr/bin/python3) serving
 * users.v1.Users with generic handlers, reached through grpc-transcode (curl) and grpc-web
 * (hand-built frames) on the same gateway.
 */
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { spawnTracked, killTracked, type Tracked } from '../helpers/child.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';
import { USERS, loadRoot } from './grpc-server.ts';
import { curl, json } from './curl.ts';

const SCRIPT = fileURLToPath(new URL('./users_server.py', import.meta.url));
let py: Tracked;
let gw: TestGateway;

test.before(async () => {
  py = spawnTracked('/usr/bin/python3', [SCRIPT]);
  const port = await waitFor(() => {
    if (py.child.exitCode !== null) throw new Error(`python exited: ${py.output()}`);
    return /^(\d+)\n/.exec(py.output())?.[1];
  }, { timeout: 20_000, message: 'the Python gRPC server printing its port' });
  gw = await startGateway({
    protos: { users: { path: USERS } },
    upstreams: { py: { targets: [{ url: `http://127.0.0.1:${port}` }] } },
    routes: {
      rest: { match: { paths: ['/v1/*'] }, upstream: 'py', policies: { 'grpc-transcode': { proto: 'users', metadata: { request: ['x-tenant'] } } } },
      web: { match: { paths: ['/users.v1.Users/*'] }, upstream: 'py', policies: { 'grpc-web': {} } },
    },
  } as never);
  if (gw.gw.configErrors.length) throw new Error(gw.gw.describeErrors());
});
test.after.always(async () => { await gw?.stop(); if (py) await killTracked(py, 'SIGTERM'); });

test('REST → Python grpcio: GET with a variable, metadata both ways', async (t) => {
  const r = await curl(`${gw.url}/v1/users/2`, { headers: { 'x-tenant': 'py' } });
  t.is(r.status, 200, r.body);
  t.deepEqual(json(r), { id: '2', name: 'Grace', email: 'grace@example.com' });
  t.is(r.headers['x-tenant-echo'], 'py');
  t.is(r.headers['x-served-by'], 'python-grpcio');
});

test('REST → Python grpcio: POST body "user", query parameters, server streaming, a status', async (t) => {
  const c = await curl(`${gw.url}/v1/users`, { method: 'POST', body: '{"name":"Linus"}', headers: { 'content-type': 'application/json' } });
  t.deepEqual(json(c), { id: '3', name: 'Linus' });
  const l = await curl(`${gw.url}/v1/users?pageSize=1`);
  t.deepEqual(json(l), { users: [{ id: '1', name: 'Ada', email: 'ada@example.com' }] });
  const s = await curl(`${gw.url}/v1/users:stream`);
  t.deepEqual(s.body.trim().split('\n').map((x) => JSON.parse(x).name), ['Ada', 'Grace']);
  const nf = await curl(`${gw.url}/v1/users/9`);
  t.is(nf.status, 404);
  t.like(json(nf), { 'grpc-code': 'NOT_FOUND', 'grpc-message': 'no user 9 here' });
});

test('REST → Python grpcio: a status becomes the documented HTTP status and problem+json', async (t) => {
  const r = await curl(`${gw.url}/v1/users`, { method: 'POST', body: '{"name":" "}', headers: { 'content-type': 'application/json' } });
  t.is(r.status, 400, r.body); // INVALID_ARGUMENT → 400 (docs/policies/grpc-transcode.md "Errors")
  t.is(r.headers['content-type'], 'application/problem+json');
  const p = json(r);
  t.like(p, {
    type: 'https://gatehouse.dev/errors/GW_GRPC_STATUS', status: 400, code: 'GW_GRPC_STATUS',
    'grpc-status': 3, 'grpc-code': 'INVALID_ARGUMENT', 'grpc-message': 'a user needs a name', detail: 'a user needs a name',
  });
  t.is(p.requestId, r.headers['x-request-id']);
  const nf = await curl(`${gw.url}/v1/users/7`);
  t.is(nf.status, 404);
  t.is(nf.headers['content-type'], 'application/problem+json');
  t.like(json(nf), { status: 404, 'grpc-status': 5 });
});

test('gRPC-Web → Python grpcio: unary call, trailers as the final frame', async (t) => {
  const Req = loadRoot(USERS).lookupType('users.v1.GetUserRequest');
  const msg = Buffer.from(Req.encode({ id: 1 }).finish());
  const body = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
  const r = await fetch(`${gw.url}/users.v1.Users/GetUser`, { method: 'POST', body, headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' } });
  t.is(r.status, 200);
  const b = Buffer.from(await r.arrayBuffer());
  const n = b.readUInt32BE(1);
  const User = loadRoot(USERS).lookupType('users.v1.User');
  t.like(User.toObject(User.decode(b.subarray(5, 5 + n)), { longs: String }), { id: '1', name: 'Ada' });
  t.is(b[5 + n], 0x80);
  t.regex(b.subarray(10 + n).toString(), /grpc-status:0\r\n/);
});
