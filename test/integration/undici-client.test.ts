/**
 * The escape hatch of decision 0005 stays open: the integration files that exercise the
 * proxy path's upstream client run again with GATEHOUSE_UPSTREAM_CLIENT=undici, each in a
 * child ava process (the gateway reads the variable when it starts). A file passes only if
 * every one of its tests passes and its gateways said they ran on undici.
 *
 * The files, and what of the client they cover:
 * - proxy: forwarding, bodies both ways, dead / hanging / resetting upstreams;
 * - retries: failures before the head, per-try timeouts, replayed bodies, the budget;
 * - breaker: verdicts from failures and slow calls, probes, fallbacks;
 * - adversarial-slow-readers: backpressure, proxy buffering, the wait queue (503s);
 * - adversarial-smuggling: strict response parsing, request heads that must not split;
 * - forwarding-headers: the headers the upstream sees.
 */
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { spawnTracked, killTracked } from '../helpers/child.ts';

/** Two child runs (one ava start-up each, ~3 s) of three files; each run well inside ava's 60 s. */
const GROUPS = [
  ['test/integration/proxy.test.ts', 'test/integration/retries.test.ts', 'test/integration/breaker.test.ts'],
  ['test/integration/adversarial-slow-readers.test.ts', 'test/integration/adversarial-smuggling.test.ts', 'test/integration/forwarding-headers.test.ts'],
];

const avaCli = fileURLToPath(new URL('../../node_modules/ava/entrypoints/cli.mjs', import.meta.url));

for (const files of GROUPS) {
  const names = files.map((f) => f.replace(/^test\/integration\/|\.test\.ts$/g, '')).join(', ');
  test.serial(`under undici: ${names}`, async (t) => {
    t.timeout(120_000);
    // info: the gateway's start-up line says which client it runs ('gateway listening').
    const child = spawnTracked(process.execPath, [avaCli, ...files, '--concurrency', '1', '--timeout', '60s'], {
      GATEHOUSE_UPSTREAM_CLIENT: 'undici',
      GATEHOUSE_TEST_LOG: 'info',
      CI: '1', // plain, non-interactive output
    });
    const clients = new Set<string>();
    let tail = '';
    const scan = (d: Buffer) => {
      const s = tail + d.toString();
      for (const m of s.matchAll(/"upstreamClient":"(\w+)"/g)) clients.add(m[1]!);
      tail = s.slice(-64); // a match split across two reads
    };
    child.child.stdout?.on('data', scan);
    child.child.stderr?.on('data', scan);
    t.teardown(() => killTracked(child));
    await child.exited();
    const code = child.child.exitCode;
    if (code !== 0) t.log(child.output());
    t.is(code, 0, `${names}: failed under the undici client`);
    t.regex(child.output(), /\d+ tests? passed/);
    t.notRegex(child.output(), /\d+ tests? (failed|skipped)|known failure|todo/);
    t.deepEqual([...clients], ['undici'], 'the gateways did not all run on undici');
  });
}
