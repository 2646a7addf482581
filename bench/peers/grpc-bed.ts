/**
 * The two gRPC scenarios: `node grpc-bed.ts <mode> <port> <statusPort> <dir>`.
 * Both start the same gRPC service (grpc-upstream.ts) as a child and answer
 * `GET /v1/users/1` on <port> with the user as JSON:
 *  - direct: a minimal Node HTTP server making a direct @grpc/grpc-js unary call per request
 *    (protobufjs encode/decode, JSON.stringify) — the floor a Node transcoder is judged by;
 *  - transcode: the real gatehouse CLI with the grpc-transcode policy and google.api.http rules.
 *  - gateway (h2c listener): the same gatehouse serving both `GET /v1/users/1` transcoded
 *    and `POST /users.v1.Users/GetUser` passed through as plain gRPC over the HTTP/2
 *    upstream pool (an `h2c://` target), so one h2load run per row compares the two.
 * Children share the process group (and the pinned core), so the runner measures and stops
 * them together.
 */
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { readProtoPath, compileProtoFiles } from '../../nodes/src/protos/load.ts';

const [mode, portArg, statusArg, dir] = process.argv.slice(2);
const port = Number(portArg);
const ROOT = join(import.meta.dirname, '..', '..');
const USERS = join(ROOT, 'proto', 'users', 'v1', 'users.proto');
const children: ChildProcess[] = [];
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => { for (const c of children) c.kill('SIGKILL'); process.exit(0); });

function freePort(): Promise<number> {
  return new Promise((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); }); });
}
function child(args: string[]): void {
  children.push(spawn(process.execPath, args, { stdio: 'inherit' }));
}

const grpcPort = await freePort();
child([join(import.meta.dirname, 'grpc-upstream.ts'), String(grpcPort)]);

if (mode === 'gateway') {
  const file = join(dir!, 'grpc-gateway.yaml');
  writeFileSync(file, stringify({
    node: { listen: `127.0.0.1:${port}`, status: `127.0.0.1:${statusArg}`, workers: 1, http2: { cleartext: true }, log: { level: 'warn', access: { enabled: true, sample: 0.01 } } },
    protos: { users: { path: USERS } },
    upstreams: { users: { targets: [{ url: `http://127.0.0.1:${grpcPort}` }] }, 'users-h2': { targets: [{ url: `h2c://127.0.0.1:${grpcPort}` }] } },
    routes: {
      rest: { match: { paths: ['/v1/*'] }, upstream: 'users', policies: { 'grpc-transcode': { proto: 'users' } } },
      grpc: { match: { paths: ['/users.v1.Users/*'] }, upstream: 'users-h2' },
    },
  }));
  child([join(ROOT, 'nodes', 'bin', 'gatehouse.js'), 'start', '--config', file]);
} else if (mode === 'transcode') {
  const file = join(dir!, 'grpc-transcode.yaml');
  writeFileSync(file, stringify({
    node: { listen: `127.0.0.1:${port}`, status: `127.0.0.1:${statusArg}`, workers: 1, log: { level: 'warn', access: { enabled: true, sample: 0.01 } } },
    protos: { users: { path: USERS } },
    upstreams: { users: { targets: [{ url: `http://127.0.0.1:${grpcPort}` }] } },
    routes: { rest: { match: { paths: ['/v1/*'] }, upstream: 'users', policies: { 'grpc-transcode': { proto: 'users' } } } },
  }));
  child([join(ROOT, 'nodes', 'bin', 'gatehouse.js'), 'start', '--config', file]);
} else {
  const root = compileProtoFiles(readProtoPath(USERS, process.cwd()));
  const Req = root.lookupType('users.v1.GetUserRequest');
  const User = root.lookupType('users.v1.User');
  const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  const id = (b: Buffer): Buffer => b;
  const status = http.createServer((_q, s) => { s.end('ok'); });
  status.listen(Number(statusArg), '127.0.0.1');
  http.createServer((req, res) => {
    const m = /^\/v1\/users\/([0-9]+)$/.exec(req.url ?? '');
    if (!m) { res.writeHead(404).end(); return; }
    const msg = Buffer.from(Req.encode({ id: Number(m[1]) }).finish());
    client.makeUnaryRequest('/users.v1.Users/GetUser', id, id, msg, new grpc.Metadata(), {}, (err, out) => {
      if (err) { res.writeHead(502).end(); return; }
      const body = JSON.stringify(User.toObject(User.decode(out!), { longs: String }));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    });
  }).listen(port, '127.0.0.1');
}
