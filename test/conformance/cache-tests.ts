/**
 * `npm run cache-tests`: the http-tests/cache-tests suite (cache-tests.fyi) against a real
 * Gatehouse node whose only route sends `/` to the suite's origin server with `cache: {}`.
 *
 * The suite is not part of this repository (nor of `npm test`): it is looked for in
 * CACHE_TESTS_DIR, else ../cache-tests next to the repository, else /work/cache-tests.
 * Without it the run says how to get it and exits 0.
 *
 * Steps: the suite's origin (test-engine/server/server.mjs) on a free port; a gateway in
 * this process (test/helpers/gateway.ts) in front of it; the suite's CLI
 * (test-engine/cli.mjs) against the gateway; its JSON results scored by score.ts. Exit 1
 * when more than MAX_REQUIRED_FAILURES required tests fail (CACHE_TESTS_MAX_FAIL overrides).
 * The raw results are kept in .bench/cache-tests-results.json.
 *
 * The suite's interim-response tests import `undici`; the suite's checkout has no
 * node_modules of its own, so a link to this repository's undici is made there when missing.
 */
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { spawnTracked, killTracked, type Tracked } from '../helpers/child.ts';
import { freePort, isListening } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';
import { score, formatScore, type Suite, type Results } from './score.ts';

const MAX_REQUIRED_FAILURES = Number(process.env.CACHE_TESTS_MAX_FAIL ?? 5);
const repo = resolve(import.meta.dirname, '../..');

function suiteDir(): string | undefined {
  const candidates = process.env.CACHE_TESTS_DIR ? [process.env.CACHE_TESTS_DIR] : [resolve(repo, '../cache-tests'), '/work/cache-tests'];
  return candidates.find((d) => existsSync(join(d, 'tests/index.mjs')) && existsSync(join(d, 'test-engine/cli.mjs')));
}

/** The suite's interim tests `import('undici')`: resolve it to ours when the checkout has none. */
function linkUndici(dir: string): void {
  const target = join(dir, 'node_modules/undici');
  if (existsSync(target)) return;
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(join(repo, 'node_modules/undici'), target, 'dir');
}

/** Run the suite's CLI (optionally one test id); its stdout. */
async function runCli(dir: string, base: string, id: string): Promise<string> {
  const cli = spawnTracked(process.execPath, ['--no-warnings', join(dir, 'test-engine/cli.mjs')], { npm_config_base: base, npm_config_id: id, npm_package_config_id: '' });
  let out = '';
  cli.child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  await cli.exited();
  if (cli.child.exitCode !== 0) throw new Error(`cache-tests CLI exited ${cli.child.exitCode}:\n${cli.output().slice(-4000)}`);
  return out;
}

async function main(): Promise<number> {
  const dir = suiteDir();
  if (dir === undefined) {
    console.log('cache-tests: skipped, the suite is not present.');
    console.log('  Get it with:  git clone https://github.com/http-tests/cache-tests.git ../cache-tests');
    console.log('  (or set CACHE_TESTS_DIR to a checkout). It needs no npm install for the CLI run.');
    return 0;
  }
  linkUndici(dir);
  const suites = (await import(pathToFileURL(join(dir, 'tests/index.mjs')).href)).default as Suite[];

  const port = await freePort();
  let origin: Tracked | undefined;
  let gw: TestGateway | undefined;
  try {
    origin = spawnTracked(process.execPath, [join(dir, 'test-engine/server/server.mjs')], {
      npm_config_port: String(port), npm_config_protocol: 'http', npm_config_pidfile: join(tmpdir(), `cache-tests-origin-${process.pid}.pid`),
    });
    await waitFor(() => isListening(port), { timeout: 10_000, interval: 100, message: `cache-tests origin on ${port}: ${origin.output()}` });
    gw = await startGateway({
      upstreams: { origin: { targets: [{ url: `http://127.0.0.1:${port}` }], timeouts: { response: '20s' } } },
      routes: { all: { match: { paths: ['/*'] }, upstream: 'origin', policies: { cache: {} } } },
    } as never);

    const one = process.env.CACHE_TESTS_ID;
    if (one) { process.stdout.write(await runCli(dir, gw.url, one)); return 0; }

    const started = Date.now();
    const results = JSON.parse(await runCli(dir, gw.url, '')) as Results;
    mkdirSync(join(repo, '.bench'), { recursive: true });
    const file = join(repo, '.bench/cache-tests-results.json');
    writeFileSync(file, JSON.stringify(results, null, 2));
    const s = score(suites, results);
    console.log(formatScore(s));
    console.log(`(${Math.round((Date.now() - started) / 1000)} s; results in ${file})`);
    if (s.required.fail.length > MAX_REQUIRED_FAILURES) {
      console.log(`cache-tests: FAILED, ${s.required.fail.length} required tests fail (at most ${MAX_REQUIRED_FAILURES} allowed)`);
      return 1;
    }
    console.log(`cache-tests: ok, ${s.required.fail.length} required tests fail (at most ${MAX_REQUIRED_FAILURES} allowed)`);
    return 0;
  } finally {
    await gw?.stop();
    if (origin) await killTracked(origin, 'SIGTERM');
  }
}

process.exitCode = await main();
