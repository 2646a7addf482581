// The file source reads JSON at the watch event itself and YAML after quiet time; neither may
// ever hand over a half-written file.
import test from 'ava';
import { closeSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileBytes, FileSource, readText } from './file.ts';
import type { ConfigUpdate } from './source.ts';

const routes = (n: number): Record<string, unknown> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`r${i}`, { match: { paths: [`/r${i}`] }, upstream: 'u' }]));

async function watched(name: string, first: string): Promise<{ file: string; updates: ConfigUpdate[]; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-filesrc-'));
  const file = join(dir, name);
  writeFileSync(file, first);
  const updates: ConfigUpdate[] = [];
  const src = new FileSource(file);
  await src.start((u) => updates.push(u));
  return { file, updates, stop: async () => { await src.stop(); rmSync(dir, { recursive: true, force: true }); } };
}

/** Rewrites the file in place (truncate, then pieces), the way a non-atomic writer does. */
async function writeInPieces(file: string, text: string, pieces: number): Promise<void> {
  const fd = openSync(file, 'w');
  const size = Math.ceil(text.length / pieces);
  for (let i = 0; i < text.length; i += size) {
    writeSync(fd, text.slice(i, i + size));
    await sleep(2);
  }
  closeSync(fd);
}

const count = (u: ConfigUpdate): number => Object.keys((u.config as { routes?: object }).routes ?? {}).length;

test('JSON: a file rewritten in place in pieces is applied whole, never half-written and never as an error', async (t) => {
  const w = await watched('gateway.json', JSON.stringify({ routes: routes(10) }));
  t.teardown(w.stop);
  await writeInPieces(w.file, JSON.stringify({ routes: routes(400) }, null, 1), 12);
  await sleep(300);
  t.true(w.updates.length >= 2);
  for (const u of w.updates) {
    t.is(u.error, undefined);
    t.true(count(u) === 10 || count(u) === 400, `an update with ${count(u)} routes`);
  }
  t.is(count(w.updates.at(-1)!), 400);
});

test('JSON: a replacement by rename is read at the event, without waiting for quiet time', async (t) => {
  const w = await watched('gateway.json', JSON.stringify({ routes: routes(10) }));
  t.teardown(w.stop);
  writeFileSync(`${w.file}.tmp`, JSON.stringify({ routes: routes(11) }));
  const t0 = performance.now();
  renameSync(`${w.file}.tmp`, w.file);
  while (w.updates.length < 2 && performance.now() - t0 < 2000) await sleep(1);
  const took = performance.now() - t0;
  t.is(count(w.updates.at(-1)!), 11);
  // Reported, not asserted: a timed assertion on a shared machine would be flaky.
  t.log(`applied ${took.toFixed(1)} ms after the rename`);
});

test('YAML: a file rewritten in place in pieces waits for quiet time: no update holds a prefix of the new file', async (t) => {
  const yaml = (n: number): string => `routes:\n${Object.keys(routes(n)).map((r) => `  ${r}: { match: { paths: [/${r}] }, upstream: u }\n`).join('')}`;
  const w = await watched('gateway.yaml', yaml(10));
  t.teardown(w.stop);
  // Every prefix cut at a line end is a valid YAML config with fewer routes.
  await writeInPieces(w.file, yaml(400), 12);
  await sleep(300);
  for (const u of w.updates) t.true(u.error !== undefined || count(u) === 10 || count(u) === 400, `an update with ${count(u)} routes`);
  t.is(count(w.updates.at(-1)!), 400);
});

test('readText: ASCII takes the fast decoder, anything else is read as UTF-8', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-filesrc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const text of ['{"routes": {}}\n', '{"a": "h\u00e9llo \u2713 \ud83d\ude80"}', '\ufeffroutes: {}\n', 'caf\u00e9']) {
    writeFileSync(join(dir, 'f'), text);
    t.is(readText(join(dir, 'f')), text);
  }
  // Bytes that are not UTF-8 read as U+FFFD, the same as readFileSync(path, 'utf8') gives.
  writeFileSync(join(dir, 'f'), Buffer.from([0x41, 0xff, 0x42]));
  t.is(readText(join(dir, 'f')), 'A\ufffdB');
});

test('FileBytes: one buffer, grown for a bigger file; each read is the whole file as it is now', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bytes-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'f');
  const b = new FileBytes();
  for (const size of [10, 200_000, 3, 1_000_000, 64 * 1024]) {
    const text = 'x'.repeat(size - 1) + '\n';
    writeFileSync(f, text);
    t.is(b.read(f).toString(), text, `${size} bytes`);
  }
});
