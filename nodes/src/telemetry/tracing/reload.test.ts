// node.tracing.sampleRatio reloads with the config file: the file source hands the node
// section along with each update, and the gateway applies the ratio (the rest of `node` waits for a restart).
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { FileSource } from '../../config/file.ts';
import { Gateway } from '../../gateway.ts';
import type { ConfigUpdate } from '../../config/source.ts';

test('a changed sampleRatio in the file is applied on reload', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-trace-reload-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gateway.yaml');
  const doc = (ratio: number) => `node: { tracing: { endpoint: "http://127.0.0.1:9/v1/traces", sampleRatio: ${ratio} } }\nupstreams: { a: { targets: [{ url: "http://127.0.0.1:9" }] } }\nroutes: { r: { match: { paths: ["/"] }, upstream: a } }\n`;
  writeFileSync(file, doc(0.25));
  const updates: ConfigUpdate[] = [];
  const src = new FileSource(file);
  const gw = new Gateway({ node: { tracing: { endpoint: 'http://127.0.0.1:9/v1/traces', sampleRatio: 0.25 } }, source: src, logger: pino({ level: 'silent' }), baseDir: dir, accessLogDestination: { write: () => true } });
  t.teardown(() => gw.tracing?.shutdown());
  await src.start((u) => { updates.push(u); t.deepEqual(gw.apply(u), []); });
  t.teardown(() => src.stop());
  t.is(gw.rt.tracing!.ratio, 0.25);
  writeFileSync(file, doc(0.5));
  const deadline = Date.now() + 10_000;
  while (gw.rt.tracing!.ratio !== 0.5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  t.is(gw.rt.tracing!.ratio, 0.5);
  t.is(updates.at(-1)!.node?.tracing?.sampleRatio, 0.5);
});
