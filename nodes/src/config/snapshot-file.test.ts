import test from 'ava';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSnapshot, writeSnapshot } from './snapshot-file.ts';
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
