/**
 * gatewayctl end to end, as users run it: `gatewayctl serve` as a child process in front of
 * a real etcd, the client commands as child processes (exit codes, stdout, stderr), and a
 * real gateway node in cluster mode that picks up what `apply` wrote and reports it in
 * `status`.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { spawnTracked, killTracked, type Tracked } from '../helpers/child.ts';
import { startCluster, COMPILE_CACHE_ENV, type TestCluster } from '../helpers/cluster.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';
import { TOKEN } from './harness.ts';

const BIN = fileURLToPath(new URL('../../control/bin/gatewayctl.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gh-ctl-'));
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, `${TOKEN}\n`);
chmodSync(tokenFile, 0o600);

let cluster: TestCluster;
let upstream: TestUpstream;
let serve: Tracked;
let adminUrl: string;

interface Run { code: number; stdout: string; stderr: string }

function ctl(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...COMPILE_CACHE_ENV, GATEHOUSE_ADMIN_TOKEN: '', ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
/** A client command against the test's admin API, token from the file. */
const gw = (...args: string[]) => ctl([...args, '--admin', adminUrl, '--token-file', tokenFile]);

function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const config = (port: number, methods = '[GET]') => `
node:                       # static node settings: gatewayctl ignores them with a note
  listen: 127.0.0.1:8080
upstreams:
  users: { targets: [{ url: "http://127.0.0.1:${port}" }] }
consumers:
  alice: { groups: [premium] }
routes:
  users-api:
    match: { paths: [/users, /users/*], methods: ${methods} }
    upstream: users
`;

test.before(async () => {
  cluster = await startCluster({ nodes: 1 });
  upstream = await startUpstream();
  const port = await freePort();
  adminUrl = `http://127.0.0.1:${port}`;
  serve = spawnTracked(process.execPath, [BIN, 'serve', '--etcd', cluster.etcd.endpoint, '--prefix', cluster.prefix, '--listen', `127.0.0.1:${port}`, '--token-file', tokenFile], { ...COMPILE_CACHE_ENV, GATEHOUSE_ADMIN_TOKEN: '' });
  await waitFor(async () => {
    if (serve.child.exitCode !== null) throw new Error(`serve exited: ${serve.output()}`);
    return (await http(`${adminUrl}/v1/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).status === 200;
  }, { timeout: 10_000, message: 'gatewayctl serve answering' });
});

test.after.always(async () => {
  if (serve) await killTracked(serve, 'SIGTERM');
  await upstream?.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test.serial('serve refuses to start without a token, or with a short one (exit 2)', async (t) => {
  const none = await ctl(['serve', '--etcd', cluster.etcd.endpoint, '--listen', '127.0.0.1:0']);
  t.is(none.code, 2);
  t.regex(none.stderr, /refusing to start: no admin token: pass --token-file FILE or set GATEHOUSE_ADMIN_TOKEN/);
  const short = await ctl(['serve', '--etcd', cluster.etcd.endpoint, '--listen', '127.0.0.1:0'], { GATEHOUSE_ADMIN_TOKEN: 'too-short' });
  t.is(short.code, 2);
  t.regex(short.stderr, /too short: at least 16 characters/);
});

test.serial('apply: ignores node: with a note, prints each change, the node serves the route, status shows it current', async (t) => {
  const f = file('gateway.yaml', config(upstream.port));
  const dry = await gw('apply', '-f', f, '--dry-run');
  t.is(dry.code, 0, dry.stderr);
  t.regex(dry.stdout, /^dry run: 3 changes would be applied .*nothing was written$/m);
  t.is((await http(`${adminUrl}/v1/routes`, { headers: { authorization: `Bearer ${TOKEN}` } })).json().items['users-api'], undefined);

  const r = await gw('apply', '-f', f);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^note: .*gateway\.yaml: the node: section is ignored \(static node config/m);
  t.deepEqual(r.stdout.trim().split('\n').slice(0, 3), ['+ upstreams/users', '+ consumers/alice', '+ routes/users-api']);
  const rev = Number(/at revision (\d+)/.exec(r.stdout)?.[1]);
  t.true(rev > 0, r.stdout);

  await cluster.converged(rev);
  const proxied = await http(`${cluster.nodes[0]!.url}/users/42`);
  t.is(proxied.status, 200);
  t.is(proxied.json().url, '/users/42');

  const s = await gw('status');
  t.is(s.code, 0, s.stderr);
  const lines = s.stdout.trim().split('\n');
  t.regex(lines[0]!, new RegExp(`^config revision ${rev} \\(etcd revision \\d+\\), 1 node$`));
  t.deepEqual(lines[1]!.split(/\s+/), ['NODE', 'ADDRESS', 'VERSION', 'REVISION', 'STATE', 'LAST-SEEN', 'NATS', 'REFUSED']);
  const row = lines[2]!.split(/\s+/);
  t.is(row[0], 'n1');
  t.is(row[1], `127.0.0.1:${cluster.nodes[0]!.port}`);
  t.true(Number(row[3]) >= rev);
  t.is(row[4], 'serving');
  t.regex(row[5]!, /^\d+\.\ds$/);
  const json = JSON.parse((await gw('status', '-o', 'json')).stdout);
  t.like(json.nodes[0], { id: 'n1', behind: false });

  const again = await gw('apply', '-f', f);
  t.regex(again.stdout, /^no changes \(config revision \d+, 3 unchanged\)$/m);
});

test.serial('diff: the changed item with + / - lines; exit 0', async (t) => {
  const f = file('changed.yaml', config(upstream.port, '[GET, POST]'));
  const d = await gw('diff', '-f', f);
  t.is(d.code, 0, d.stderr);
  t.regex(d.stdout, /^~ routes\/users-api$/m);
  t.regex(d.stdout, /^ {4}\+ {5}- POST$/m);
  t.regex(d.stdout, /^1 change \(0 added, 1 changed, 0 removed; 2 unchanged\) against config revision \d+$/m);
  t.notRegex(d.stdout, /upstreams\/users/);
});

test.serial('apply with errors: one line per error, exit 1, nothing written', async (t) => {
  const before = (await gw('get', '-o', 'json')).stdout;
  const f = file('bad.yaml', `
upstreams:
  users: { targets: [{ url: "http://127.0.0.1:${upstream.port}" }] }
  extra: { targets: [{ url: "ftp://nope" }] }
routes:
  fine: { match: { paths: [/fine] }, upstream: users }
  broken: { match: { paths: [broken] }, upstream: missing }
`);
  const r = await gw('apply', '-f', f);
  t.is(r.code, 1);
  t.is(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  t.true(lines.includes('routes.broken.match.paths[0]: must start with /'), r.stderr);
  t.true(lines.includes('routes.broken.upstream: unknown upstream "missing"'), r.stderr);
  t.true(lines.includes('upstreams.extra.targets[0].url: must be http://, https://, h2c:// or h2://host:port with no path'), r.stderr);
  t.is((await gw('get', '-o', 'json')).stdout, before);

  const dup = await gw('apply', '-f', file('dup.yaml', 'routes: {}\nroutes: {}\n'));
  t.is(dup.code, 1);
  t.regex(dup.stderr, /dup\.yaml: Map keys must be unique/);
  const missing = await gw('apply', '-f', join(dir, 'nope.yaml'));
  t.is(missing.code, 1);
  t.regex(missing.stderr, /nope\.yaml: cannot read \(ENOENT\)/);
});

test.serial('get: tables by default, -o yaml / json give a document apply takes back unchanged', async (t) => {
  const table = await gw('get', 'routes');
  t.is(table.code, 0);
  t.deepEqual(table.stdout.trim().split('\n').map((l) => l.split(/\s+/)), [
    ['NAME', 'PATHS', 'METHODS', 'HOSTS', 'UPSTREAM', 'POLICIES'],
    ['users-api', '/users,/users/*', 'GET', '*', 'users', '-'],
  ]);
  const one = await gw('get', 'route', 'users-api', '-o', 'json');
  t.deepEqual(JSON.parse(one.stdout), { routes: { 'users-api': { match: { paths: ['/users', '/users/*'], methods: ['GET'] }, upstream: 'users' } } });
  const all = await gw('get', '-o', 'yaml');
  const doc = YAML.parse(all.stdout);
  t.deepEqual(Object.keys(doc), ['upstreams', 'consumers', 'routes']);
  const back = await gw('apply', '-f', file('roundtrip.yaml', all.stdout));
  t.regex(back.stdout, /^no changes/m);
  const nf = await gw('get', 'routes', 'nope');
  t.is(nf.code, 1);
  t.regex(nf.stderr, /routes\/nope does not exist \(GW_NOT_FOUND\)/);
  const badKind = await gw('get', 'widgets');
  t.is(badKind.code, 2);
  t.regex(badKind.stderr, /unknown kind "widgets"/);
});

test.serial('delete: a used upstream is refused with its references; prune --dry-run shows removals', async (t) => {
  const used = await gw('delete', 'upstreams', 'users');
  t.is(used.code, 1);
  t.regex(used.stderr, /still used by 1 reference/);
  t.regex(used.stderr, /^routes\.users-api\.upstream: refers to upstream "users"$/m);

  const only = file('only-upstreams.yaml', `upstreams:\n  users: { targets: [{ url: "http://127.0.0.1:${upstream.port}" }] }\nconsumers: {}\n`);
  const dry = await gw('apply', '-f', only, '--prune', '--dry-run');
  t.is(dry.code, 0, dry.stderr);
  t.regex(dry.stdout, /^- consumers\/alice$/m);
  t.notRegex(dry.stdout, /routes\//, 'routes are not in the file: not pruned');

  const del = await gw('delete', 'route', 'users-api');
  t.is(del.code, 0, del.stderr);
  t.regex(del.stdout, /^deleted routes\/users-api at revision \d+$/m);
  const rev = Number(/revision (\d+)/.exec(del.stdout)?.[1]);
  await cluster.converged(rev);
  t.is((await http(`${cluster.nodes[0]!.url}/users/1`)).status, 404);
  t.is((await gw('delete', 'upstreams', 'users')).code, 0);
  t.is((await gw('delete', 'upstreams', 'users')).code, 1);
});

test.serial('client errors: no token exit 2, wrong token exit 1, unreachable admin API exit 1, usage exit 2', async (t) => {
  const none = await ctl(['status', '--admin', adminUrl]);
  t.is(none.code, 2);
  t.regex(none.stderr, /no admin token/);
  const wrong = await ctl(['status', '--admin', adminUrl], { GATEHOUSE_ADMIN_TOKEN: 'a-wrong-token-of-enough-length' });
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /refused the token \(401\)/);
  const down = await ctl(['status', '--admin', `http://127.0.0.1:${await freePort()}`], { GATEHOUSE_ADMIN_TOKEN: TOKEN });
  t.is(down.code, 1);
  t.regex(down.stderr, /cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  const usage = await gw('apply');
  t.is(usage.code, 2);
  t.regex(usage.stderr, /apply needs -f FILE/);
  t.is((await gw('apply', '-f', 'x', '--purne')).code, 2);
  t.is((await ctl(['frobnicate'])).code, 2);
  const help = await ctl(['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /gatewayctl COMMAND/);
});

test.serial('apply --prune lists what it deletes and, without a terminal, refuses unless --yes', async (t) => {
  const two = file('two.yaml', `upstreams:\n  p1: { targets: [{ url: "http://127.0.0.1:${upstream.port}" }] }\n  p2: { targets: [{ url: "http://127.0.0.1:${upstream.port}" }] }\n`);
  t.is((await gw('apply', '-f', two)).code, 0);
  const one = file('one.yaml', `upstreams:\n  p1: { targets: [{ url: "http://127.0.0.1:${upstream.port}" }] }\n`);
  const refused = await gw('apply', '-f', one, '--prune');
  t.is(refused.code, 1);
  t.regex(refused.stderr, /^--prune will delete 1 item:\n {2}- upstreams\/p2$/m);
  t.regex(refused.stderr, /refusing to delete without confirmation: not a terminal; pass --yes to confirm/);
  t.is((await http(`${adminUrl}/v1/upstreams/p2`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200, 'nothing was deleted');
  const yes = await gw('apply', '-f', one, '--prune', '--yes');
  t.is(yes.code, 0, yes.stderr);
  t.regex(yes.stdout, /^- upstreams\/p2$/m);
  t.is((await http(`${adminUrl}/v1/upstreams/p2`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);
  const stdin = await gw('apply', '-f', '-', '--prune');
  t.is(stdin.code, 2);
  t.regex(stdin.stderr, /cannot ask: add --yes/);
});

test.serial('--version; output cut short by a closed pipe (| head) ends quietly, no EPIPE crash', async (t) => {
  const v = await ctl(['--version']);
  t.is(v.code, 0);
  t.regex(v.stdout, /^gatewayctl \d+\.\d+\.\d+\n$/);
  // A reader that is gone before anything is written (what `| head -1` does to the rest).
  const { spawn } = await import('node:child_process');
  const c = spawn(process.execPath, [BIN, 'history', '-o', 'yaml', '--admin', adminUrl, '--token-file', tokenFile], { env: { ...process.env, ...COMPILE_CACHE_ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  c.stdout.destroy();
  const code = await new Promise<number | null>((r) => c.once('exit', (n) => r(n)));
  t.notRegex(stderr, /EPIPE|Error/);
  t.is(code, 0);
});
