import test from 'ava';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configJsonParts, readSnapshot, writeSnapshot } from './snapshot-file.ts';
import { captureLogger } from '../../../test/helpers/log.ts';

async function dir(t: import('ava').ExecutionContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'gatehouse-snap-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

const config = { routes: { r: { match: { paths: ['/r'] }, upstream: 'u' } }, upstreams: { u: { targets: [{ url: 'http://127.0.0.1:1' }] } }, consumers: {} };

test('round trip: what was written is read back, file is 0600, no temp file left', async (t) => {
  const d = await dir(t);
  const path = join(d, 'nested', 'snapshot.json');
  await writeSnapshot(path, { config, revision: 42 });
  t.deepEqual(await readSnapshot(path), { config, revision: 42 });
  t.is((await stat(path)).mode & 0o777, 0o600);
  t.deepEqual(await readdir(join(d, 'nested')), ['snapshot.json']);
});

test('a kind whose object did not change is not serialised again; the file is the whole config', async (t) => {
  const path = join(await dir(t), 'snapshot.json');
  const first = await configJsonParts(config);
  const edited = { ...config, routes: { ...config.routes, s: { match: { paths: ['/s'] }, upstream: 'u' } } };
  const second = await configJsonParts(edited);
  t.is(second[first.length - 1], first[first.length - 1], 'the consumers object: the same Buffer');
  t.not(second[1], first[1], 'the routes object changed: serialised anew');
  await writeSnapshot(path, { config: edited, revision: 7 }, second);
  t.deepEqual(await readSnapshot(path), { config: edited, revision: 7 });
});

test('a large kind is serialised in slices (the event loop turns) into the text JSON.stringify makes', async (t) => {
  const consumers: Record<string, { groups: string[]; keys: string[] }> = {};
  for (let i = 0; i < 60_000; i++) consumers[`c${i}`] = { groups: ['g', `h${i % 7}`], keys: [`sha256:${i.toString(16).padStart(64, '0')}`] };
  let turns = 0;
  const ticker = setInterval(() => { turns++; }, 0);
  const parts = await configJsonParts({ consumers });
  clearInterval(ticker);
  t.is(Buffer.concat(parts).toString(), `"consumers":${JSON.stringify(consumers)}`);
  t.true(turns > 0, 'timers ran while it was serialised');
});

test('concurrent writes land in call order', async (t) => {
  const path = join(await dir(t), 'snapshot.json');
  await Promise.all([1, 2, 3, 4, 5].map((revision) => writeSnapshot(path, { config, revision })));
  t.is((await readSnapshot(path))?.revision, 5);
});

test('absent file: undefined, logged at info', async (t) => {
  const { logger, records } = captureLogger();
  t.is(await readSnapshot(join(await dir(t), 'none.json'), logger), undefined);
  t.true(records.some((r) => r.msg === 'no config snapshot on disk'));
});

for (const [name, body, reason] of [
  ['truncated JSON', '{"format":1,"revision":3,"con', /not valid JSON/],
  ['not an object', '[1,2]', /wrong shape/],
  ['unknown format', '{"format":9,"revision":1,"config":{}}', /wrong shape/],
  ['bad revision', '{"format":1,"revision":"7","config":{}}', /wrong shape/],
  ['routes not a map', '{"format":1,"revision":1,"config":{"routes":[]}}', /wrong shape/],
] as const) {
  test(`corrupt file (${name}): undefined, and the reason is logged`, async (t) => {
    const path = join(await dir(t), 'snapshot.json');
    await writeFile(path, body);
    const { logger, records } = captureLogger();
    t.is(await readSnapshot(path, logger), undefined);
    t.true(records.some((r) => reason.test(r.msg) && r.level === 40), JSON.stringify(records));
  });
}
