/**
 * The control plane validates through `@gatehouse/node/schema` without loading the data
 * plane: a child process resolves the export the way control/ does and records every module
 * it loads (module.registerHooks); none may be a runtime part of the node.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const control = fileURLToPath(new URL('../../control/', import.meta.url));

const PROBE = `
import { registerHooks } from 'node:module';
const seen = new Set();
registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); seen.add(r.url); return r; } });
const m = await import('@gatehouse/node/schema');
if (typeof m.validateConfig !== 'function') throw new Error('no validateConfig');
process.stdout.write(JSON.stringify([...seen]));
`;

/** What validation must never load: the data plane's runtime, its libraries, process-level builtins. */
const FORBIDDEN = [
  /\/nodes\/src\/(pipeline|upstream|cluster|telemetry|request|app|config|discovery|workers|cli)\//,
  /\/nodes\/src\/(gateway|main)\.ts$/,
  /\/nodes\/src\/policies\/registry\.ts$/,
  /\/nodes\/src\/policies\/[^/]+\/index\.ts$/,
  /\/node_modules\/(jose|prom-client|undici|pino|etcd3|@nats-io|@opentelemetry)\//,
  /^node:(cluster|http|https|net|tls|dgram|worker_threads)$/,
];

test('@gatehouse/node/schema loads no data-plane module', async (t) => {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', PROBE], { cwd: control });
  const loaded = JSON.parse(stdout) as string[];
  // The probe saw the real thing: validation and the policies' config side.
  t.true(loaded.some((u) => u.endsWith('/nodes/src/validation/validate.ts')));
  t.true(loaded.some((u) => u.endsWith('/nodes/src/policies/key-auth/spec.ts')));
  t.deepEqual(loaded.filter((u) => FORBIDDEN.some((re) => re.test(u))), []);
});
