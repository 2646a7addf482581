/**
 * The control plane an operator can trust, end to end: a real etcd and nats-server, three
 * real `gatehouse start` processes (leases of 10 s: staleness must come from the heartbeat), the admin API and `gatewayctl` as child processes.
 *  - `apply --wait` exits 0 only once every live node serves the new revision;
 *  - a config the admin API accepts but the nodes refuse makes `--wait` fail with the nodes'
 *    own errors, and `rollback` brings back exactly the objects of a previous revision;
 *  - a SIGKILLed node (its lease still alive) shows `stale` in `status` within 2 s.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, COMPILE_CACHE_ENV, type TestCluster } from '../helpers/cluster.ts';
import { spawnTracked, killTracked } from '../helpers/child.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { waitFor } from '../helpers/wait.ts';
import { configKeys, startAdmin, TOKEN, type Admin } from './harness.ts';

const BIN = fileURLToPath(new URL('../../control/bin/gatewayctl.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gh-conv-'));
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, `${TOKEN}\n`);
chmodSync(tokenFile, 0o600);

let cluster: TestCluster;
let upstream: TestUpstream;
let admin: Admin;

interface Run { code: number; stdout: string; stderr: string; ms: number }

function gw(...args: string[]): Promise<Run> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args, '--admin', admin.url, '--token-file', tokenFile],
      { env: { ...process.env, ...COMPILE_CACHE_ENV, GATEHOUSE_ADMIN_TOKEN: '' }, timeout: 40_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr, ms: performance.now() - t0 });
      });
  });
}

function file(name: string, doc: unknown): string {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify(doc));
  return f;
}

const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const base = (path: string) => ({
  upstreams: { users: { targets: [{ url: `http://127.0.0.1:${upstream.port}` }] } },
  routes: { 'users-api': { match: { paths: [path] }, upstream: 'users' } },
});

test.before(async () => {
  [cluster, upstream] = await Promise.all([startCluster({ nodes: 3, nats: true, cluster: { leaseTtl: '10s' }, startTimeout: 45_000 }), startUpstream()]);
  admin = await startAdmin(cluster.etcd, { prefix: cluster.prefix });
});

test.after.always(async () => {
  await admin?.close();
  await upstream?.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test.serial('apply --wait exits 0 only once every live node serves the new revision, and says how long it took', async (t) => {
  const r = await gw('apply', '-f', file('a.json', base('/users')), '--wait', '--timeout', '20s');
  t.is(r.code, 0, r.stderr + r.stdout);
  const rev = Number(/at revision (\d+)/.exec(r.stdout)?.[1]);
  t.true(rev > 0, r.stdout);
  // The moment apply returned, every node already served it.
  for (const n of cluster.nodes) t.true(((await n.revision()) ?? 0) >= rev, `${n.name} serves ${await n.revision()}, apply said ${rev}`);
  t.regex(r.stdout, new RegExp(`^revision ${rev} served by all 3 live nodes after \\d+\\.\\ds$`, 'm'));
  // Not a TTY: plain progress lines, no carriage returns.
  t.false(r.stdout.includes('\r'));
  // The membership keys carry what status shows: status address, heartbeat, no refusal.
  const s = (await admin.call('GET', '/v1/status')).json();
  t.is(s.nodes.length, 3);
  for (const n of s.nodes) {
    t.like(n, { stale: false, refused: null, skipped: [], heartbeatMs: 1000 });
    t.regex(n.status, /^127\.0\.0\.1:\d+$/);
    t.true(n.lastSeenMs < 1500, `${n.id} last seen ${n.lastSeenMs} ms ago`);
    t.like(n.nats, { connected: true });
    t.truthy(n.etcd.lastSeen);
  }
});

test.serial('a config the nodes refuse makes --wait fail with their errors; rollback restores the exact previous objects', async (t) => {
  const good = await gw('apply', '-f', file('b.json', { ...base('/v2'), consumers: { alice: { keys: [sha('alice-key-0123456789')] } } }), '--wait');
  t.is(good.code, 0, good.stderr + good.stdout);
  const goodRev = Number(/at revision (\d+)/.exec(good.stdout)?.[1]);
  const before = await configKeys(cluster.etcd, cluster.prefix);

  // Validation is one function, so what the admin API accepts a node accepts too, except what
  // only the node can see: a file the config names that is missing on the node's disk.
  const bad = {
    consumers: { alice: { keys: [sha('alice-key-0123456789')] }, bob: { keys: [sha('bob-key-0123456789')] } },
    upstreams: { users: { targets: [{ url: `https://127.0.0.1:${upstream.port}` }], tls: { ca: 'no-such-ca.pem' } } },
    routes: { 'users-api': { match: { paths: ['/v2'] }, upstream: 'users' } },
  };
  const r = await gw('apply', '-f', file('bad.json', bad), '--wait', '--timeout', '20s');
  t.is(r.code, 1, r.stdout + r.stderr);
  const badRev = Number(/at revision (\d+)/.exec(r.stdout)?.[1]);
  t.true(badRev > goodRev);
  t.regex(r.stdout, new RegExp(`^revision ${badRev} refused after \\d+\\.\\ds`, 'm'));
  t.regex(r.stderr, new RegExp(`^node n\\d refused revision ${badRev} and still serves revision ${goodRev}:$`, 'm'));
  t.regex(r.stderr, /upstreams\.users\.tls\.ca: cannot read no-such-ca\.pem/);
  // Every node still serves the good revision; status names the refusal.
  for (const n of cluster.nodes) t.is(await n.revision(), goodRev);
  const st = await gw('status');
  t.regex(st.stdout, /^n1 +\S+ +\S+ +\d+ +refused /m);
  t.regex(st.stdout, new RegExp(`^n1 refused revision ${badRev}:$`, 'm'));

  // History names both writes; rollback brings back the good revision's objects, and waits.
  const h = await gw('history');
  t.is(h.code, 0, h.stderr);
  t.regex(h.stdout, new RegExp(`^${badRev} +\\S+ \\S+ +admin +apply +~upstreams/users \\+consumers/bob`, 'm'));
  const d = await gw('diff', '--revision', String(goodRev));
  t.is(d.code, 0, d.stderr);
  t.regex(d.stdout, /^- consumers\/bob$/m);
  t.regex(d.stdout, new RegExp(`from config revision ${badRev} back to revision ${goodRev}$`, 'm'));
  const rb = await gw('rollback', String(goodRev), '--wait', '--timeout', '20s');
  t.is(rb.code, 0, rb.stdout + rb.stderr);
  t.deepEqual(await configKeys(cluster.etcd, cluster.prefix), before);
  const rbRev = Number(/at revision (\d+)/.exec(rb.stdout)?.[1]);
  for (const n of cluster.nodes) t.true(((await n.revision()) ?? 0) >= rbRev);
  const last = (await admin.call('GET', '/v1/history')).json().entries.at(-1);
  t.like(last, { revision: rbRev, who: 'admin', op: `rollback ${goodRev}` });
});

test.serial('a SIGKILLed node (lease still alive) shows stale within 2 s; status --watch redraws; --wait then waits for the live nodes only', async (t) => {
  const victim = cluster.nodes[2]!;
  // status --watch, piped: a new timestamped table each time something changes.
  const watch = spawnTracked(process.execPath, [BIN, 'status', '--watch', '--interval', '200ms', '--admin', admin.url, '--token-file', tokenFile], { ...COMPILE_CACHE_ENV, GATEHOUSE_ADMIN_TOKEN: '' });
  t.teardown(() => killTracked(watch, 'SIGTERM'));
  await waitFor(() => new RegExp(`^${victim.id} +\\S+ +\\S+ +\\d+ +serving `, 'm').test(watch.output()), { timeout: 20_000, message: 'watch shows the node serving' });
  const t0 = performance.now();
  await victim.stop('SIGKILL');
  const staleAfter = await waitFor(async () => {
    const n = (await admin.call('GET', '/v1/status')).json().nodes.find((x: { id: string }) => x.id === victim.id);
    return n?.stale ? performance.now() - t0 : undefined;
  }, { timeout: 10_000, interval: 50, message: `${victim.id} shown stale` });
  t.log(`killed node stale after ${Math.round(staleAfter)} ms`);
  t.true(staleAfter <= 2000, `stale after ${Math.round(staleAfter)} ms`);
  const st = await gw('status');
  t.regex(st.stdout, new RegExp(`^${victim.id} +\\S+ +\\S+ +\\d+ +stale +\\d+\\.\\ds `, 'm'));
  await waitFor(() => new RegExp(`^${victim.id} +\\S+ +\\S+ +\\d+ +stale `, 'm').test(watch.output()), { timeout: 5000, message: 'watch redrew with the node stale' });
  t.true((watch.output().match(/^--- \d{4}-/gm) ?? []).length >= 2, 'one block per change');
  t.regex(st.stdout, /, 1 stale/);

  const r = await gw('apply', '-f', file('c.json', base('/v3')), '--wait', '--timeout', '20s');
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /served by all 2 live nodes/);
  t.regex(r.stderr, new RegExp(`^note: not waited for \\(stale\\): ${victim.id} \\(last seen`, 'm'));
});
