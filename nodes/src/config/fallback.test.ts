// Snapshot fallback around a config source, and the debounced snapshot saver.
import test from 'ava';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { SnapshotFallbackSource, SnapshotSaver } from './fallback.ts';
import { writeSnapshot, readSnapshot } from './snapshot-file.ts';
import type { ConfigSource, ConfigUpdate } from './source.ts';

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'gh-fallback-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const path = () => join(dir, `snap-${++n}.json`);
const cfg = (route: string): ConfigUpdate['config'] => ({ routes: { [route]: { match: { paths: [`/${route}`] } } }, upstreams: {}, consumers: {} });

/** A primary source the test drives: `ok` resolves start(), `fail` rejects it, `push` sends an update. */
function primary() {
  let cb: ((u: ConfigUpdate) => void) | undefined;
  let settle: { resolve(): void; reject(e: Error): void } | undefined;
  const src: ConfigSource & { push(u: ConfigUpdate): void; ok(): void; fail(): void; stopped: boolean } = {
    kind: 'etcd', stopped: false,
    start: (onUpdate) => { cb = onUpdate; return new Promise((resolve, reject) => { settle = { resolve, reject }; }); },
    stop: async () => { src.stopped = true; },
    push: (u) => cb?.(u),
    ok: () => settle?.resolve(),
    fail: () => settle?.reject(new Error('etcd did not answer')),
  };
  return src;
}

test('etcd answers: its updates pass through, the snapshot is not used', async (t) => {
  const p = path();
  await writeSnapshot(p, { config: cfg('old'), revision: 3 });
  const prim = primary();
  const src = new SnapshotFallbackSource(prim, p, logger);
  const got: ConfigUpdate[] = [];
  const started = src.start((u) => got.push(u));
  prim.push({ config: cfg('new'), revision: 9 });
  prim.ok();
  await started;
  t.deepEqual(got.map((u) => u.revision), [9]);
  t.is(src.origin, 'etcd');
  t.is(src.kind, 'etcd');
  await src.stop();
  t.true(prim.stopped);
});

test('etcd down at start: the snapshot is served, then replaced by etcd once it answers', async (t) => {
  const p = path();
  await writeSnapshot(p, { config: cfg('old'), revision: 3 });
  const prim = primary();
  const src = new SnapshotFallbackSource(prim, p, logger);
  const got: ConfigUpdate[] = [];
  const started = src.start((u) => got.push(u));
  prim.fail();
  await started;
  t.is(src.origin, 'snapshot');
  t.deepEqual(got, [{ config: cfg('old'), revision: 3 }]);
  prim.push({ config: cfg('new'), revision: 12 });
  t.is(src.origin, 'etcd');
  t.deepEqual(got.map((u) => u.revision), [3, 12]);
});

test('etcd down and no snapshot: nothing to serve until etcd answers', async (t) => {
  const prim = primary();
  const src = new SnapshotFallbackSource(prim, join(dir, 'missing.json'), logger);
  const got: ConfigUpdate[] = [];
  const started = src.start((u) => got.push(u));
  prim.fail();
  await started;
  t.is(src.origin, 'none');
  t.is(got.length, 0);
  prim.push({ config: cfg('new'), revision: 1 });
  t.is(got.length, 1);
});

test('etcd answering after the timeout but before the file was read wins over the file', async (t) => {
  const p = path();
  await writeSnapshot(p, { config: cfg('old'), revision: 3 });
  const prim = primary();
  const src = new SnapshotFallbackSource(prim, p, logger);
  const got: ConfigUpdate[] = [];
  const started = src.start((u) => got.push(u));
  prim.fail();
  prim.push({ config: cfg('new'), revision: 12 }); // before start() got to read the snapshot
  await started;
  t.deepEqual(got.map((u) => u.revision), [12]);
  t.is(src.origin, 'etcd');
});

test('saver: a burst is one write of the latest state; identical state is not rewritten; flush writes now', async (t) => {
  const p = path();
  let state = { config: cfg('a'), revision: 1 };
  const saver = new SnapshotSaver({ path: p, logger, current: () => state, delayMs: 30 });
  for (let i = 2; i <= 5; i++) { state = { config: cfg(`r${i}`), revision: i }; saver.schedule(); }
  t.false(existsSync(p), 'debounced');
  await new Promise((r) => setTimeout(r, 80));
  await saver.flush();
  t.is(saver.writes, 1);
  t.is(saver.savedRevision, 5);
  t.deepEqual(await readSnapshot(p), { config: cfg('r5'), revision: 5 });
  saver.schedule();
  await new Promise((r) => setTimeout(r, 80));
  await saver.flush();
  t.is(saver.writes, 1, 'same content: no write');
  state = { config: cfg('r6'), revision: 6 };
  saver.schedule();
  await saver.flush();
  t.is(saver.writes, 2);
  t.is((await readSnapshot(p))!.revision, 6);
});

test('saver: a failed write is logged and retried on the next change', async (t) => {
  const p = join(dir, 'not-a-dir-file');
  await writeSnapshot(p, { config: cfg('x'), revision: 1 }); // a file where the saver wants a directory
  const saver = new SnapshotSaver({ path: join(p, 'snap.json'), logger, current: () => ({ config: cfg('a'), revision: 2 }), delayMs: 1 });
  saver.schedule();
  await new Promise((r) => setTimeout(r, 20));
  await saver.flush();
  t.is(saver.writes, 0);
  t.is(saver.savedRevision, 0);
});
