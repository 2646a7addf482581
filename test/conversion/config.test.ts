/**
 * Protos as config in file mode: validation errors with their paths (a proto that does not
 * parse, a policy naming a missing set, service or a bad rule), and a proto file edited on
 * disk picked up by a running node without a restart.
 */
import test from 'ava';
import pino from 'pino';
import { Writable } from 'node:stream';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../nodes/src/validation/validate.ts';
import { Gateway } from '../../nodes/src/gateway.ts';
import { FileSource } from '../../nodes/src/config/file.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';
import { startGrpcServer, USERS, type GrpcServer } from './grpc-server.ts';
import { curl } from './curl.ts';

const route = (policy: Record<string, unknown>) => ({ match: { paths: ['/v1/*'] }, upstream: 'g', policies: { 'grpc-transcode': policy } });
const base = { upstreams: { g: { targets: [{ url: 'http://127.0.0.1:50051' }] } } };

test('validation: the example protos load; missing sets, services and bad files are errors with paths', (t) => {
  t.deepEqual(validateConfig({ ...base, protos: { users: { path: USERS } }, routes: { r: route({ proto: 'users' }) } }), []);
  t.deepEqual(validateConfig({ ...base, protos: { users: { path: USERS } }, routes: { r: route({ proto: 'nope' }) } }), [
    { path: 'routes.r.policies.grpc-transcode.proto', message: 'unknown proto set "nope" (define it under protos)' },
  ]);
  t.deepEqual(validateConfig({ ...base, protos: { users: { path: USERS } }, routes: { r: route({ proto: 'users', services: ['users.v1.Users', 'users.v1.Nope'] }) } }), [
    { path: 'routes.r.policies.grpc-transcode.services[1]', message: 'unknown service "users.v1.Nope" in proto set "users" (known: users.v1.Users)' },
  ]);
  const errs = validateConfig({ ...base, protos: { bad: { files: { 'x/a.proto': 'syntax = "proto3";\nmessage A {\n  int32 x = 1\n}\n' }, entry: 'x/a.proto' } } });
  t.is(errs.length, 1);
  t.is(errs[0]!.path, 'protos.bad');
  t.regex(errs[0]!.message, /^x\/a\.proto: syntax error: .*line 4/);
  const missing = validateConfig({ ...base, protos: { m: { path: 'proto/none/x.proto' } } });
  t.deepEqual(missing, [{ path: 'protos.m', message: 'cannot read proto/none/x.proto: ENOENT' }]);
  const imp = validateConfig({ ...base, protos: { m: { files: { 'a.proto': 'syntax = "proto3"; import "b.proto";' }, entry: 'a.proto' } } });
  t.deepEqual(imp, [{ path: 'protos.m', message: 'a.proto: import "b.proto" not found' }]);
  const rule = validateConfig({
    ...base,
    protos: { s: { files: { 's.proto': 'syntax = "proto3"; import "google/api/annotations.proto"; package p; message M { string a = 1; } service S { rpc Get(M) returns (M) { option (google.api.http) = { get: "/v1/{b}" }; } }' }, entry: 's.proto' } },
    routes: { r: route({ proto: 's' }) },
  });
  t.deepEqual(rule, [{ path: 'routes.r.policies.grpc-transcode.services[0]', message: 'method p.S.Get "/v1/{b}": no field "b" in p.M' }]);
  const shape = validateConfig({ ...base, protos: { x: { path: USERS, entry: 'y' } } });
  t.true(shape.some((e) => e.path.startsWith('protos.x')));
});

let grpc: GrpcServer;
const dir = mkdtempSync(join(tmpdir(), 'gh-protofile-'));
test.before(async () => { grpc = await startGrpcServer(); });
test.after.always(async () => { await grpc?.stop(); rmSync(dir, { recursive: true, force: true }); });

test('file mode: an edited proto file is picked up without a restart; a broken edit keeps the running config', async (t) => {
  mkdirSync(join(dir, 'proto'));
  const protoFile = join(dir, 'proto/users.proto');
  const original = readFileSync(USERS, 'utf8');
  writeFileSync(protoFile, original);
  const cfg = join(dir, 'gateway.yaml');
  writeFileSync(cfg, `
protos:
  users: { path: proto/users.proto }
upstreams:
  g: { targets: [{ url: "${grpc.url}" }] }
routes:
  rest:
    match: { paths: [/v1/*, /v2/*] }
    upstream: g
    policies:
      grpc-transcode: { proto: users }
`);
  const port = await freePort();
  const gw = new Gateway({ node: { listen: `127.0.0.1:${port}`, status: `127.0.0.1:${await freePort()}` }, source: new FileSource(cfg), logger: pino({ level: 'silent' }), baseDir: dir, accessLogDestination: new Writable({ write(_c, _e, cb) { cb(); } }) });
  await gw.start();
  t.teardown(() => gw.shutdown(2000));
  const u = `http://127.0.0.1:${port}`;
  t.is((await curl(`${u}/v1/users/1`)).status, 200);
  writeFileSync(protoFile, original.replace('get: "/v1/users/{id}"', 'get: "/v2/people/{id}"'));
  await waitFor(async () => (await curl(`${u}/v2/people/1`)).status === 200, { timeout: 10_000, message: 'the edited rule served' });
  t.is((await curl(`${u}/v1/users/1`)).status, 404);
  writeFileSync(protoFile, 'syntax = "proto3"; message {');
  await waitFor(() => gw.configErrors.length > 0, { timeout: 10_000, message: 'the broken proto refused' });
  t.deepEqual(gw.configErrors.map((e) => e.path), ['protos.users']);
  t.is((await curl(`${u}/v2/people/2`)).status, 200, 'the running config keeps serving');
});
