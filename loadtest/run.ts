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
import { parseDuration, run, summary, type Iteration, type Metrics } from './engine.ts';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const USAGE = `usage: npm run loadtest -- --scenario smoke|load|spike|soak [--script node|cluster] [--target URL]
                        [-e KEY=VALUE ...] [--engine auto|k6|node]
  --scenario  which scenario (default smoke)
  --script    node: one gateway node (default target http://127.0.0.1:8080/hello)
              cluster: the cluster behind HAProxy (default http://127.0.0.1:8000/hello)
  --target    the URL to GET (sets TARGET); an origin alone means its /hello
  -e, --env   KEY=VALUE for the scenarios: RATE, DURATION, HOLD, RAMP, PEAK, P99_MS, MAX_VUS
  --engine    auto (k6 when on PATH, else node), k6, or node
  --timeline D      (node engine) a line every D (e.g. 60s): requests, failures, p99 of that window
  --rss-from URL    (node engine) with --timeline: the target's RSS from its Prometheus /metrics
                    (a node's status port: http://127.0.0.1:9080/metrics), and its slope at the end`;

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
        timeline: { type: 'string' },
        'rss-from': { type: 'string' },
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
  const timeline = a.timeline ? new Timeline(parseDuration(a.timeline, 0), a['rss-from']) : undefined;
  const result = await run(options, { url, checks }, {
    progress: (m, elapsed, total) => {
      if (timeline) { timeline.tick(m, elapsed); return; }
      const reqs = m.value('http_reqs')!.values.count!;
      const failed = m.value('http_req_failed')!.values.passes!;
      const line = `  running ${(elapsed / 1000).toFixed(0)}s/${(total / 1000).toFixed(0)}s  ${reqs} requests, ${failed} failed, ${m.vus} in flight`;
      if (tty) process.stderr.write(`\r${line}   `);
      else if (Math.round(elapsed / 1000) % 10 === 0) process.stderr.write(`${line}\n`);
    },
  });
  if (tty && !timeline) process.stderr.write('\n');
  if (timeline) await timeline.end(result.metrics);
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

/**
 * --timeline: one line per window with that window's requests, failures and p99 (the soak
 * question is "does it drift?", which a whole-run p99 hides), and the target's RSS when
 * --rss-from names its /metrics; at the end the RSS slope after the first window (warm-up).
 */
class Timeline {
  private next: number;
  private seen = new Map<string, { d: number; f: number; r: number }>();
  private readonly rss: Array<[number, number]> = [];
  private readonly every: number;
  private readonly rssFrom: string | undefined;
  constructor(every: number, rssFrom: string | undefined) {
    if (every < 1000) throw new Error('--timeline: at least 1s');
    this.every = every;
    this.rssFrom = rssFrom;
    this.next = every;
    console.log(`  timeline every ${every / 1000}s: window, requests, failed, p99 of the window${rssFrom ? ', target RSS' : ''}`);
  }
  private pending: Promise<void> = Promise.resolve();
  tick(m: Metrics, elapsed: number, last = false): void {
    if (elapsed < this.next && !last) return;
    this.next += this.every;
    const window: number[] = [];
    let reqs = 0;
    let failed = 0;
    for (const [name, s] of m.scenarios) {
      const seen = this.seen.get(name) ?? { d: 0, f: 0, r: 0 };
      window.push(...s.durations.slice(seen.d));
      reqs += s.reqs - seen.r;
      failed += s.failed - seen.f;
      this.seen.set(name, { d: s.durations.length, f: s.failed, r: s.reqs });
    }
    window.sort((x, y) => x - y);
    const p99 = window.length ? window[Math.min(window.length - 1, Math.ceil(0.99 * window.length) - 1)]! : 0;
    const at = elapsed / 1000;
    const line = `  t=${at.toFixed(0)}s requests=${reqs} failed=${failed} p99=${p99.toFixed(2)}ms`;
    if (!this.rssFrom) { console.log(line); return; }
    this.pending = this.readRss().then((rss) => {
      if (rss !== undefined) this.rss.push([at / 60, rss / 1e6]);
      console.log(`${line} rss=${rss === undefined ? '?' : `${(rss / 1e6).toFixed(1)}MB`}`);
    });
  }
  private async readRss(): Promise<number | undefined> {
    try {
      const text = await (await fetch(this.rssFrom!, { signal: AbortSignal.timeout(2000) })).text();
      const m = /^\w*process_resident_memory_bytes(?:\{[^}]*\})? ([\d.e+]+)/m.exec(text);
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  }
  async end(m: Metrics): Promise<void> {
    this.tick(m, (m.endedAt - m.startedAt), true); // the last, partial window
    await this.pending;
    const pts = this.rss.slice(1); // the first window is warm-up
    if (pts.length < 2) return;
    const n = pts.length;
    const mx = pts.reduce((a, p) => a + p[0], 0) / n;
    const my = pts.reduce((a, p) => a + p[1], 0) / n;
    const slope = pts.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0) / pts.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
    console.log(`  target RSS after warm-up: ${pts[0]![1].toFixed(1)} -> ${pts[n - 1]![1].toFixed(1)} MB, slope ${slope.toFixed(2)} MB/min (least squares over ${n} windows)`);
  }
}

process.exitCode = await main().catch((err: Error) => { console.error(`loadtest: ${err.message}`); return 1; });
