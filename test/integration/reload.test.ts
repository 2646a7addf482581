import test from 'ava';
import { mkdtempSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent, request } from 'undici';
import { Gateway } from '../../nodes/src/gateway.ts';
import { FileSource } from '../../nodes/src/config/file.ts';
import { startGateway } from '../helpers/gateway.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';

const yaml = (port: number, status: number, upUrl: string, routes: string): string => `
node: { listen: 127.0.0.1:${port}, status: 127.0.0.1:${status}, log: { access: { enabled: false } } }
upstreams:
  a: { targets: [{ url: ${upUrl} }] }
routes:
${routes}
`;

test('file source: an edit is applied without restart; a bad edit is refused and the old config keeps serving', async (t) => {
  const up = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'gh-reload-'));
  const file = join(dir, 'gateway.yaml');
  const [port, status] = [await freePort(), await freePort()];
  writeFileSync(file, yaml(port, status, up.url, '  one: { match: { paths: [/one] }, upstream: a }'));
  const gw = new Gateway({ node: { listen: `127.0.0.1:${port}`, status: `127.0.0.1:${status}`, log: { access: { enabled: false } } }, source: new FileSource(file), logger: pino({ level: 'silent' }), baseDir: dir });
  await gw.start();
  t.teardown(async () => { await gw.shutdown(1000); await up.close(); rmSync(dir, { recursive: true, force: true }); });
  const base = `http://127.0.0.1:${port}`;
  t.is((await http(`${base}/one`)).status, 200);
  t.is((await http(`${base}/two`)).status, 404);

  // Editors replace files by rename: the folder watch must still see it.
  writeFileSync(file + '.tmp', yaml(port, status, up.url, '  one: { match: { paths: [/one] }, upstream: a }\n  two: { match: { paths: [/two] }, upstream: a }'));
  renameSync(file + '.tmp', file);
  await waitFor(async () => (await http(`${base}/two`)).status === 200, { message: 'new route served', timeout: 15_000 });

  writeFileSync(file, yaml(port, status, up.url, '  two: { match: { paths: [two] }, upstream: nope }'));
  await waitFor(() => gw.configErrors.length > 0, { message: 'bad edit rejected', timeout: 15_000 });
  t.deepEqual(gw.configErrors.map((e) => e.path).sort(), ['routes.two.match.paths[0]', 'routes.two.upstream']);
  t.is((await http(`${base}/one`)).status, 200, 'previous config still serving');
  t.is((await http(`${base}/two`)).status, 200);
  const metrics = (await http(`http://127.0.0.1:${status}/metrics`)).body;
  t.regex(metrics, /gatehouse_config_reloads_total\{source="file",result="rejected"\} 1/);
  t.regex(metrics, /gatehouse_config_reloads_total\{source="file",result="applied"\} 2/);

  writeFileSync(file, 'routes: [unclosed');
  await waitFor(() => gw.configErrors[0]?.path === '(file)', { message: 'YAML error reported', timeout: 15_000 });
  t.is((await http(`${base}/one`)).status, 200);
});

test('a config swap under load drops no request; in-flight requests finish on their snapshot', async (t) => {
  const up = await startUpstream();
  up.mode = { kind: 'slow', ms: 5 };
  const gw = await startGateway({ upstreams: { a: { targets: [{ url: up.url }] } }, routes: { r: { match: { paths: ['/r'] }, upstream: 'a' } } });
  t.teardown(async () => { await gw.stop(); await up.close(); });
  const agent = new Agent({ connections: 16 });
  let ok = 0;
  const bad: number[] = [];
  let stop = false;
  const worker = async (): Promise<void> => {
    while (!stop) {
      const r = await request(`${gw.url}/r`, { dispatcher: agent });
      await r.body.dump();
      if (r.statusCode === 200) ok++; else bad.push(r.statusCode);
    }
  };
  const workers = Array.from({ length: 16 }, worker);
  for (let i = 0; i < 30; i++) {
    // Alternate between configs that rebuild the route table and the upstream runtime.
    gw.push({ upstreams: { a: { targets: [{ url: up.url }], timeouts: { response: `${10 + (i % 2)}s` } } }, routes: { r: { match: { paths: ['/r'] }, upstream: 'a' }, [`x${i}`]: { match: { paths: [`/x${i}`] }, upstream: 'a' } } });
    await new Promise((r) => setTimeout(r, 30));
  }
  stop = true;
  await Promise.all(workers);
  await agent.close();
  t.is(gw.gw.snapshot!.revision, 31);
  t.deepEqual(bad, [], 'no request failed during 30 swaps');
  t.true(ok > 100, `served ${ok}`);
});
