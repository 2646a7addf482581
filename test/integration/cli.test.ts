import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawnTracked, killTracked } from '../helpers/child.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { freePort, isListening } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';

const run = promisify(execFile);
const BIN = new URL('../../nodes/bin/gatehouse.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'gh-cli-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

async function gatehouse(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test('validate: the shipped example is valid', async (t) => {
  const r = await gatehouse('validate', '--config', new URL('../../examples/gateway.yaml', import.meta.url).pathname);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /ok/);
});

test('validate: every error with its path, exit 1', async (t) => {
  const f = join(dir, 'bad.yaml');
  writeFileSync(f, `
node: { listen: nowhere, workers: 0 }
upstreams:
  users: { targets: [{ url: "ftp://x" }], balance: random }
routes:
  users:
    match: { paths: [users] }
    upstream: users
    priorty: 1
  other:
    match: { paths: [/o] }
    upstream: missing
    policies: { no-such-policy: {} }
`);
  const r = await gatehouse('validate', '--config', f);
  t.is(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  for (const want of [
    'node.listen: must be host:port',
    'node.workers: ',
    'upstreams.users.targets[0].url: must be http://, https://, h2c:// or h2://host:port with no path',
    'upstreams.users.balance: ',
    'routes.users.match.paths[0]: must start with /',
    'routes.users: unknown field "priorty"',
    'routes.other.upstream: unknown upstream "missing"',
    'routes.other.policies.no-such-policy: unknown policy',
  ]) t.true(lines.some((l) => l.startsWith(want)), `missing "${want}" in:\n${r.stderr}`);
});

test('validate: YAML syntax and duplicate keys are reported', async (t) => {
  const f = join(dir, 'dup.yaml');
  writeFileSync(f, 'routes:\n  a: { match: { paths: [/a] } }\n  a: { match: { paths: [/b] } }\n');
  const r = await gatehouse('validate', '--config', f);
  t.is(r.code, 1);
  t.regex(r.stderr, /unique|duplicate/i);
});

test('hash-key prints the sha256 digest', async (t) => {
  const r = await gatehouse('hash-key', 'secret');
  t.is(r.stdout.trim(), 'sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b');
});

async function startNode(extraArgs: string[] = [], upUrl: string): Promise<{ port: number; status: number; proc: ReturnType<typeof spawnTracked> }> {
  const [port, status] = [await freePort(), await freePort()];
  const f = join(dir, `node-${port}.yaml`);
  writeFileSync(f, `
node: { listen: 127.0.0.1:${port}, status: 127.0.0.1:${status}, drainTimeout: 5s, log: { level: warn, access: { enabled: false } } }
upstreams: { a: { targets: [{ url: ${upUrl} }] } }
routes: { r: { match: { paths: [/r, /slow] }, upstream: a } }
`);
  const proc = spawnTracked(process.execPath, [BIN, 'start', '--config', f, ...extraArgs]);
  // A node that never gets ready is stopped here: a live child would keep the test worker alive.
  await waitFor(async () => (await http(`http://127.0.0.1:${status}/readyz`)).status === 200, { timeout: 30_000, message: 'node ready' })
    .catch(async (err: Error) => { await killTracked(proc); throw new Error(`${err.message}\n${proc.output()}`); });
  return { port, status, proc };
}

test('SIGTERM drains: in-flight requests finish, readyz turns 503, then the process exits and frees its ports', async (t) => {
  const up = await startUpstream();
  t.teardown(() => up.close());
  up.respond = (r, res) => setTimeout(() => { res.writeHead(200); res.end(r.url); }, r.url === '/slow' ? 1000 : 0);
  const n = await startNode([], up.url);
  t.teardown(() => killTracked(n.proc));
  const inflight = http(`http://127.0.0.1:${n.port}/slow`);
  await waitFor(() => up.received.length === 1, { message: 'slow request reached upstream' });
  n.proc.child.kill('SIGTERM');
  await waitFor(async () => (await http(`http://127.0.0.1:${n.status}/readyz`)).status === 503, { message: 'readyz 503 while draining' });
  const r = await inflight;
  t.is(r.status, 200);
  t.is(r.body, '/slow');
  await n.proc.exited();
  t.is(n.proc.child.exitCode, 0);
  t.false(await isListening(n.port));
  t.false(await isListening(n.status));
});

test('--workers 2 runs two worker processes on one port and stops them all on SIGTERM', async (t) => {
  const up = await startUpstream();
  t.teardown(() => up.close());
  const n = await startNode(['--workers', '2'], up.url);
  t.teardown(() => killTracked(n.proc));
  const children = async (): Promise<string[]> => {
    try { return (await run('pgrep', ['-P', String(n.proc.child.pid)])).stdout.trim().split('\n').filter(Boolean); } catch { return []; }
  };
  await waitFor(async () => (await children()).length === 2, { message: 'two workers' });
  for (let i = 0; i < 20; i++) t.is((await http(`http://127.0.0.1:${n.port}/r`)).status, 200);
  n.proc.child.kill('SIGTERM');
  await n.proc.exited();
  await waitFor(async () => (await children()).length === 0, { message: 'workers gone' });
  t.false(await isListening(n.port));
});
