/**
 * One validation: configs every node would refuse are refused by `gatehouse validate`, by
 * `gatewayctl apply` (exit 1, nothing written to etcd) and by a node, with the same
 * messages, every error at once. The three examples are the ones that used to pass the
 * first two and fail only on the nodes (key-auth with no way to present a key, one key
 * shared by two consumers, a path template naming a param the route does not define).
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { EtcdServer } from '../helpers/etcd.ts';
import { startGateway } from '../helpers/gateway.ts';
import { adminsPerFile, etcdKeys, TOKEN } from './harness.ts';

const GATEHOUSE = fileURLToPath(new URL('../../nodes/bin/gatehouse.js', import.meta.url));
const GATEWAYCTL = fileURLToPath(new URL('../../control/bin/gatewayctl.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gh-refused-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, `${TOKEN}\n`);
chmodSync(tokenFile, 0o600);

let etcd: EtcdServer;
const admin = adminsPerFile(test, (e) => { etcd = e; });

const KEY = `sha256:${'ab'.repeat(32)}`;
const BAD = `
upstreams:
  users: { targets: [{ url: "http://127.0.0.1:1" }] }
consumers:
  alice: { keys: ["${KEY}"] }
  bob: { keys: ["${KEY}"] }
routes:
  keys-nowhere: { match: { paths: [/k] }, upstream: users, policies: { key-auth: { header: null } } }
  rewrite-nope: { match: { paths: ["/v1/:id"] }, upstream: users, policies: { request-transform: { path: "/v2/:nope" } } }
`;
const EXPECTED = [
  'consumers.bob.keys[0]: the same key is also a key of consumer "alice"',
  'routes.keys-nowhere.policies.key-auth.header: is null and no query is set, so no key could ever be presented',
  'routes.rewrite-nope.policies.request-transform.path: ":nope" is not defined by the route path /v1/:id',
];
const badFile = join(dir, 'bad.yaml');
writeFileSync(badFile, BAD);

interface Run { code: number; stdout: string; stderr: string }
function run(bin: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, GATEHOUSE_ADMIN_TOKEN: '' }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
const lines = (text: string) => text.trim().split('\n').filter((l) => l.includes(': ')).sort();

test('gatehouse validate refuses all three, every error with its path', async (t) => {
  const r = await run(GATEHOUSE, ['validate', '--config', badFile]);
  t.is(r.code, 1);
  t.deepEqual(lines(r.stderr), EXPECTED);
});

test('gatewayctl apply refuses all three with the same messages and writes nothing', async (t) => {
  const a = await admin();
  const before = await etcdKeys(etcd, a.prefix);
  const r = await run(GATEWAYCTL, ['apply', '-f', badFile, '--admin', a.url, '--token-file', tokenFile]);
  t.is(r.code, 1, r.stderr);
  t.is(r.stdout, '');
  t.deepEqual(lines(r.stderr), EXPECTED);
  t.deepEqual(await etcdKeys(etcd, a.prefix), before, 'nothing written');
});

test('a node refuses all three with the same messages and keeps serving its config', async (t) => {
  const g = await startGateway({ upstreams: { users: { targets: [{ url: 'http://127.0.0.1:1' }] } }, routes: { ok: { match: { paths: ['/ok'] }, upstream: 'users' } } });
  t.teardown(() => g.stop());
  const served = g.gw.snapshot!.revision;
  const errs = g.gw.apply({ config: YAML.parse(BAD), revision: served + 1 });
  t.deepEqual(errs.map((e) => `${e.path}: ${e.message}`).sort(), EXPECTED);
  t.is(g.gw.snapshot!.revision, served);
  t.deepEqual(g.gw.configErrors.map((e) => `${e.path}: ${e.message}`).sort(), EXPECTED);
});
