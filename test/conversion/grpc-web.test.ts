/**
 * grpc-web end to end: a real gRPC-Web client (@connectrpc/connect-web's transport on Node's
 * fetch) and hand-built grpc-web-text bodies sent in pieces → gateway → a real grpc-js server.
 */
import test from 'ava';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { create, createFileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { createClient, ConnectError, Code } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-web';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startGrpcServer, loadRoot, USERS, type GrpcServer } from './grpc-server.ts';

let srv: GrpcServer;
let gw: TestGateway;

// The client side of proto/users/v1/users.proto as a descriptor (connect-web usually gets
// it from generated code; fields the client does not list are skipped as unknown).
const file = create(FileDescriptorProtoSchema, {
  name: 'users/v1/users.proto', package: 'users.v1', syntax: 'proto3',
  messageType: [
    { name: 'GetUserRequest', field: [{ name: 'id', number: 1, type: 3, label: 1, jsonName: 'id' }] },
    { name: 'ListUsersRequest', field: [{ name: 'page_size', number: 1, type: 5, label: 1, jsonName: 'pageSize' }] },
    { name: 'User', field: [{ name: 'id', number: 1, type: 3, label: 1, jsonName: 'id' }, { name: 'name', number: 2, type: 9, label: 1, jsonName: 'name' }, { name: 'email', number: 3, type: 9, label: 1, jsonName: 'email' }] },
  ],
  service: [{
    name: 'Users',
    method: [
      { name: 'GetUser', inputType: '.users.v1.GetUserRequest', outputType: '.users.v1.User' },
      { name: 'StreamUsers', inputType: '.users.v1.ListUsersRequest', outputType: '.users.v1.User', serverStreaming: true },
    ],
  }],
});
const Users = createFileRegistry(file, () => undefined).getService('users.v1.Users')!;

test.before(async () => {
  srv = await startGrpcServer();
  gw = await startGateway({
    upstreams: { users: { targets: [{ url: srv.url }] } },
    consumers: { app: { keys: [`sha256:${createHash('sha256').update('web-key').digest('hex')}`] } },
    routes: {
      web: { match: { paths: ['/users.v1.Users/*'] }, upstream: 'users', policies: { 'grpc-web': {} } },
      // Mounted under /secure with key-auth; cors answers preflights before authentication.
      secure: {
        match: { paths: ['/secure/*'] }, upstream: 'users', rewrite: { stripPrefix: '/secure' },
        policies: {
          cors: { origins: ['https://app.example'], exposeHeaders: ['grpc-status', 'grpc-message'] },
          'key-auth': { header: 'x-api-key' },
          'grpc-web': { origins: ['https://app.example'] },
        },
      },
    },
  });
  if (gw.gw.configErrors.length) throw new Error(gw.gw.describeErrors());
});
test.after.always(async () => { await gw?.stop(); await srv?.stop(); });

// A registry-built DescService has no static method types: the client is untyped here.
function client(): any {
  return createClient(Users, createGrpcWebTransport({ baseUrl: gw.url, fetch: globalThis.fetch }));
}

test('connect-web gRPC-Web transport: unary call', async (t) => {
  const u = await client().getUser({ id: 1n }, { headers: { 'x-tenant': 'web' } });
  t.is(u.name, 'Ada');
  t.is(u.id, 1n);
  t.is(u.email, 'ada@example.com');
  const md = srv.seen.metadata.find((m) => m.get('x-tenant')[0] === 'web')!;
  t.truthy(md, 'custom request headers reach the service as metadata');
});

test('connect-web gRPC-Web transport: server streaming', async (t) => {
  const names: string[] = [];
  for await (const u of client().streamUsers({})) names.push(u.name);
  t.deepEqual(names, ['Ada', 'Grace']);
});

test('connect-web gRPC-Web transport: the gRPC status reaches the client', async (t) => {
  const err = await t.throwsAsync(client().getUser({ id: 99n }));
  const ce = ConnectError.from(err);
  t.is(ce.code, Code.NotFound);
  t.is(ce.rawMessage, 'user 99 not found');
});

/** POST a body in pieces and return status, headers and the whole response body. */
function post(path: string, pieces: Array<string | Buffer>, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${gw.url}${path}`, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    let i = 0;
    const next = (): void => { if (i < pieces.length) { req.write(pieces[i++]); setImmediate(next); } else req.end(); };
    next();
  });
}

function frame(flags: number, data: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h[0] = flags;
  h.writeUInt32BE(data.length, 1);
  return Buffer.concat([h, data]);
}

function frames(b: Buffer): Array<{ flags: number; data: Buffer }> {
  const out = [];
  for (let i = 0; i < b.length;) { const n = b.readUInt32BE(i + 1); out.push({ flags: b[i]!, data: b.subarray(i + 5, i + 5 + n) }); i += 5 + n; }
  return out;
}

test('grpc-web-text: base64 sent in separately padded pieces across chunks; base64 answer with the trailers frame', async (t) => {
  const root = loadRoot(USERS);
  const Req = root.lookupType('users.v1.GetUserRequest');
  const User = root.lookupType('users.v1.User');
  const body = frame(0, Buffer.from(Req.encode({ id: 2 }).finish()));
  // Two base64 pieces, each padded on its own (what a client that encodes per write sends).
  const a = body.subarray(0, 4).toString('base64'), b = body.subarray(4).toString('base64');
  t.true(a.endsWith('='));
  const r = await post('/users.v1.Users/GetUser', [a.slice(0, 3), a.slice(3), b], { 'content-type': 'application/grpc-web-text', 'x-grpc-web': '1' });
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/grpc-web-text+proto');
  const bytes = Buffer.concat(r.body.toString().match(/[^=]+=*/g)!.map((p) => Buffer.from(p, 'base64')));
  const f = frames(bytes);
  t.is(f.length, 2);
  t.is(f[0]!.flags, 0);
  t.like(User.toObject(User.decode(f[0]!.data), { longs: String }), { id: '2', name: 'Grace' });
  t.is(f[1]!.flags, 0x80);
  t.regex(f[1]!.data.toString(), /^grpc-status:0\r\n/m);
});

test('binary grpc-web: a failed call carries grpc-status and grpc-message in the trailers frame', async (t) => {
  const root = loadRoot(USERS);
  const Req = root.lookupType('users.v1.GetUserRequest');
  const r = await post('/users.v1.Users/GetUser', [frame(0, Buffer.from(Req.encode({ id: 77 }).finish()))], { 'content-type': 'application/grpc-web+proto' });
  t.is(r.status, 200);
  // The service sent its headers first, so the status is the body's final (trailers) frame.
  const last = frames(r.body).at(-1)!;
  t.is(last.flags, 0x80);
  t.regex(last.data.toString(), /^grpc-status:5\r\n/m);
  t.regex(last.data.toString(), /^grpc-message:user 77 not found\r\n/m);
});

test('CORS preflight is answered with what gRPC-Web clients need', async (t) => {
  const r = await fetch(`${gw.url}/users.v1.Users/GetUser`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-grpc-web,x-user-agent,grpc-timeout' } });
  t.is(r.status, 204);
  t.is(r.headers.get('access-control-allow-origin'), '*');
  t.is(r.headers.get('access-control-allow-headers'), 'content-type,x-grpc-web,x-user-agent,grpc-timeout');
  t.regex(r.headers.get('access-control-allow-methods')!, /POST/);
  t.regex(r.headers.get('access-control-expose-headers')!, /grpc-status/);
});

test('broken frames and a wrong content type are refused without reaching the service', async (t) => {
  const r = await post('/users.v1.Users/GetUser', [Buffer.from([0, 0, 0, 0, 9, 1])], { 'content-type': 'application/grpc-web+proto' });
  t.is(r.status, 200);
  t.is(r.headers['grpc-status'], '13');
  const j = await post('/users.v1.Users/GetUser', ['{}'], { 'content-type': 'application/json' });
  t.is(j.status, 415);
  const txt = await post('/users.v1.Users/GetUser', ['!!!notbase64'], { 'content-type': 'application/grpc-web-text' });
  t.is(txt.headers['grpc-status'], '13');
});

test('authentication in front of grpc-web: no key is 401 (the client sees UNAUTHENTICATED), a key passes; cors answers the preflight', async (t) => {
  const pre = await fetch(`${gw.url}/secure/users.v1.Users/GetUser`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-api-key,x-grpc-web' } });
  t.is(pre.status, 204);
  t.is(pre.headers.get('access-control-allow-origin'), 'https://app.example');
  const transport = (key?: string) => createGrpcWebTransport({ baseUrl: `${gw.url}/secure`, fetch: globalThis.fetch, ...(key ? { interceptors: [(next) => (req) => { req.header.set('x-api-key', key); return next(req); }] } : {}) });
  const err = await t.throwsAsync((createClient(Users, transport()) as any).getUser({ id: 1n }));
  t.is(ConnectError.from(err).code, Code.Unauthenticated);
  const u = await (createClient(Users, transport('web-key')) as any).getUser({ id: 2n });
  t.is(u.name, 'Grace');
});
