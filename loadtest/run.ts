/**
 * `npm run loadtest -- --scenario smoke|load|spike|soak [--script node|cluster] [--target URL]
 *  [-e KEY=VALUE ...] [--engine auto|k6|node]`
 *
 * Runs loadtest/node.js or loadtest/cluster.js: with k6 when `k6` is on PATH (the script as
 * it is), otherwise with the Node engine (loadtest/engine.ts), which takes the same scenario
 * definitions (loadtest/scenarios.js) and checks (loadtest/requests.js). It says first which
 * engine runs, prints a k6-style summary, and exits 99 when a threshold failed (as k6 does).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Options } from 'k6/options';
import { run, summary, type Iteration } from './engine.ts';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const USAGE = `usage: npm run loadtest -- --scenario smoke|load|spike|soak [--script node|cluster] [--target URL]
                        [-e KEY=VALUE ...] [--engine auto|k6|node]
  --scenario  which scenario (default smoke)
  --script    node: one gateway node (default target http://127.0.0.1:8080/hello)
              cluster: the cluster behind HAProxy (default http://127.0.0.1:8000/hello)
  --target    the URL to GET (sets TARGET); an origin alone means its /hello
  -e, --env   KEY=VALUE for the scenarios: RATE, DURATION, HOLD, RAMP, PEAK, P99_MS, MAX_VUS
  --engine    auto (k6 when on PATH, else node), k6, or node`;

/** The modules shared with k6, loaded as they are (plain JS, typed by loadtest/tsconfig.json). */
interface ScenariosModule { SCENARIOS: readonly string[]; optionsFor(name: string, env: Record<string, string | undefined>, target: 'node' | 'cluster'): Options }
interface RequestsModule { targetUrl(env: Record<string, string | undefined>, target: 'node' | 'cluster'): string; checks: Iteration['checks'] }
const load = async <T>(file: string): Promise<T> => (await import(pathToFileURL(here(file)).href)) as T;

function k6OnPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const file = join(dir, 'k6');
    try { accessSync(file, constants.X_OK); return file; } catch { /* not here */ }
  }
  return undefined;
}

async function main(): Promise<number> {
  let a;
  try {
    a = parseArgs({
      options: {
        scenario: { type: 'string', default: 'smoke' },
        script: { type: 'string', default: 'node' },
        target: { type: 'string' },
        env: { type: 'string', short: 'e', multiple: true, default: [] },
        engine: { type: 'string', default: 'auto' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    }).values;
  } catch (err) {
    console.error(`loadtest: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (a.help) { console.log(USAGE); return 0; }
  const script = a.script;
  if (script !== 'node' && script !== 'cluster') { console.error(`loadtest: --script ${script}: node or cluster\n${USAGE}`); return 2; }
  const extra: Record<string, string> = { SCENARIO: a.scenario };
  for (const kv of a.env) {
    const i = kv.indexOf('=');
    if (i < 1) { console.error(`loadtest: -e ${kv}: must be KEY=VALUE`); return 2; }
    extra[kv.slice(0, i)] = kv.slice(i + 1);
  }
  if (a.target) extra.TARGET = a.target;
  // k6 puts the system environment in __ENV too; -e wins.
  const env: Record<string, string | undefined> = { ...process.env, ...extra };
  const { SCENARIOS, optionsFor } = await load<ScenariosModule>('./scenarios.js');
  const { targetUrl, checks } = await load<RequestsModule>('./requests.js');
  let options: Options;
  let url: string;
  try {
    options = optionsFor(a.scenario, env, script);
    url = targetUrl(env, script);
  } catch (err) {
    console.error(`loadtest: ${(err as Error).message} (scenarios: ${SCENARIOS.join(', ')})`);
    return 2;
  }

  const k6 = a.engine === 'node' ? undefined : k6OnPath();
  if (a.engine === 'k6' && !k6) { console.error('loadtest: --engine k6 but k6 is not on PATH'); return 2; }
  if (k6) {
    console.log(`engine: k6 (${k6}) running loadtest/${script}.js, scenario ${a.scenario}, target ${url}`);
    const args = ['run', ...Object.entries(extra).flatMap(([k, v]) => ['-e', `${k}=${v}`]), here(`./${script}.js`)];
    const child = spawn(k6, args, { stdio: 'inherit' });
    return new Promise((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? 1 : 0))));
  }

  console.log(`engine: node (k6 is ${a.engine === 'node' ? 'not used: --engine node' : 'not on PATH'}): loadtest/engine.ts runs the scenario definitions of loadtest/${script}.js with undici`);
  const [name, sc] = Object.entries(options.scenarios ?? {})[0]!;
  console.log(`  scenario: ${name} (${sc.executor}), target: GET ${url}`);
  console.log(`  thresholds: ${Object.entries(options.thresholds ?? {}).map(([k, v]) => `${k} ${v.map((t) => (typeof t === 'string' ? t : t.threshold)).join(', ')}`).join('; ')}\n`);
  const tty = process.stderr.isTTY;
  const result = await run(options, { url, checks }, {
    progress: (m, elapsed, total) => {
      const reqs = m.value('http_reqs')!.values.count!;
      const failed = m.value('http_req_failed')!.values.passes!;
      const line = `  running ${(elapsed / 1000).toFixed(0)}s/${(total / 1000).toFixed(0)}s  ${reqs} requests, ${failed} failed, ${m.vus} in flight`;
      if (tty) process.stderr.write(`\r${line}   `);
      else if (Math.round(elapsed / 1000) % 10 === 0) process.stderr.write(`${line}\n`);
    },
  });
  if (tty) process.stderr.write('\n');
  console.log(`\n${summary(result, options.summaryTrendStats)}`);
  if (result.aborted) console.log(`aborted: ${result.aborted}`);
  const failed = result.thresholds.filter((t) => !t.ok);
  if (failed.length) {
    console.log(`thresholds on metrics ${[...new Set(failed.map((t) => `'${t.metric}'`))].join(', ')} have been crossed (engine: node)`);
    return 99;
  }
  console.log(`thresholds: all ${result.thresholds.length} passed (engine: node)`);
  return 0;
}

process.exitCode = await main().catch((err: Error) => { console.error(`loadtest: ${err.message}`); return 1; });
