/**
 * Standalone, a config the node refuses at compile time (validation cannot see it: a CA file
 * the config names is missing on this machine) is a failed start: exit 1 with the error and its path, nothing
 * left listening. (In cluster mode the node waits for etcd instead: see convergence.test.ts.)
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEHOUSE_BIN, COMPILE_CACHE_ENV } from '../helpers/cluster.ts';
import { freePort } from '../helpers/ports.ts';

test('gatehouse start exits 1 on a config it refuses, naming the error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-refused-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [port, status] = [await freePort(), await freePort()];
  const f = join(dir, 'gateway.yaml');
  writeFileSync(f, `node: { listen: "127.0.0.1:${port}", status: "127.0.0.1:${status}", log: { level: warn } }
upstreams: { u: { targets: [{ url: "https://127.0.0.1:9" }], tls: { ca: no-such-ca.pem } } }
routes: { r: { match: { paths: [/r] }, upstream: u } }
`);
  const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, [GATEHOUSE_BIN, 'start', '--config', f], { env: { ...process.env, ...COMPILE_CACHE_ENV }, timeout: 25_000 }, (err, _out, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /gateway\.yaml: the node refused this config:/);
  t.regex(r.stderr, /upstreams\.u\.tls\.ca: cannot read no-such-ca\.pem/);
  // Nothing left listening.
  await t.throwsAsync(fetch(`http://127.0.0.1:${status}/healthz`));
});
