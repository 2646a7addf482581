/**
 * Protos as cluster config: `gatewayctl apply` turns `protos.<name>.path` into files under
 * <prefix>/protos/<name>; every node of a real cluster (gatehouse processes on etcd) serves
 * the transcoded API, and an edited proto applied again reaches every node without a restart.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, chmodSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, COMPILE_CACHE_ENV, type TestCluster } from '../helpers/cluster.ts';
import { http } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';
import { TOKEN, startAdmin, type Admin } from '../control/harness.ts';
import { startGrpcServer, USERS, type GrpcServer } from './grpc-server.ts';

const BIN = fileURLToPath(new URL('../../control/bin/gatewayctl.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gh-protos-'));
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, `${TOKEN}\n`);
chmodSync(tokenFile, 0o600);

let cluster: TestCluster;
let grpc: GrpcServer;
let admin: Admin;

function ctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args, '--admin', admin.url, '--token-file', tokenFile], { env: { ...process.env, ...COMPILE_CACHE_ENV, GATEHOUSE_ADMIN_TOKEN: '' }, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test.before(async () => {
  grpc = await startGrpcServer();
  cluster = await startCluster({ nodes: 2, startTimeout: 40_000 }); // node start-up is slow on a busy 2-core box
  // The admin API in process (the control tests' harness); gatewayctl runs as a real process.
  admin = await startAdmin(cluster.etcd, { prefix: cluster.prefix });
});

test.after.always(async () => {
  await admin?.close();
  await cluster?.stop();
  await grpc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a proto applied with gatewayctl serves on every node; an edit reaches every node without a restart', async (t) => {
  mkdirSync(join(dir, 'protos/users/v1'), { recursive: true });
  const protoFile = join(dir, 'protos/users/v1/users.proto');
  const original = readFileSync(USERS, 'utf8');
  writeFileSync(protoFile, original);
  const cfg = join(dir, 'gateway.yaml');
  writeFileSync(cfg, `
protos:
  users: { path: protos/users/v1/users.proto }
upstreams:
  users-grpc: { targets: [{ url: "${grpc.url}" }] }
routes:
  users-rest:
    match: { paths: [/v1/users, /v1/users/*, /v2/*] }
    upstream: users-grpc
    policies:
      grpc-transcode: { proto: users, services: [users.v1.Users] }
`);
  const r = await ctl('apply', '-f', cfg);
  t.is(r.code, 0, r.stderr + r.stdout);
  t.regex(r.stdout, /\+ protos\/users/);
  // Stored as files + entry: nodes never read a local path.
  const stored = JSON.parse(await cluster.ctl('get', '--print-value-only', `${cluster.prefix}/protos/users`));
  t.deepEqual(Object.keys(stored).sort(), ['entry', 'files']);
  t.is(stored.entry, 'users.proto');
  t.is(stored.files['users.proto'], original);
  for (const n of cluster.nodes) {
    await waitFor(async () => (await http(`${n.url}/v1/users/1`)).status === 200, { timeout: 30_000, message: `${n.name} serves GET /v1/users/1` });
    t.like(JSON.parse((await http(`${n.url}/v1/users/2`)).body), { id: '2', name: 'Grace' });
  }
  const pids = cluster.nodes.map((n) => n.proc?.child.pid);
  // Edit the proto: GetUser moves to /v2/people/{id}.
  writeFileSync(protoFile, original.replace('get: "/v1/users/{id}"', 'get: "/v2/people/{id}"'));
  const again = await ctl('apply', '-f', cfg);
  t.is(again.code, 0, again.stderr + again.stdout);
  t.regex(again.stdout, /~ protos\/users/);
  for (const n of cluster.nodes) {
    await waitFor(async () => (await http(`${n.url}/v2/people/1`)).status === 200, { timeout: 15_000, message: `${n.name} serves the edited rule` });
    t.is((await http(`${n.url}/v1/users/1`)).status, 404);
  }
  t.deepEqual(cluster.nodes.map((n) => n.proc?.child.pid), pids, 'no node restarted');
});

test('a proto that does not parse is refused by apply with its path; nothing is written', async (t) => {
  const cfg = join(dir, 'bad.yaml');
  writeFileSync(cfg, 'protos:\n  broken: { files: { "a.proto": "syntax = \\"proto3\\"; message A { int32 x = 1 }" }, entry: a.proto }\n');
  const r = await ctl('apply', '-f', cfg);
  t.not(r.code, 0);
  t.regex(r.stderr + r.stdout, /protos\.broken: a\.proto: syntax error/);
  t.is((await cluster.ctl('get', '--print-value-only', `${cluster.prefix}/protos/broken`)).trim(), '');
});
