/**
 * `npm run bench`: Gatehouse against other Node proxies, one at a time, in one run.
 *
 * Layout on the 2-core box: the proxy under test gets core 1 to itself; wrk and the nginx
 * upstream share core 0. That trade-off keeps the proxy's core clean (its throughput is
 * what we compare) at the price that a very fast proxy can be capped by core 0; the
 * "load core" column shows when that happens (near 100% = load-bound, ratios compress).
 *
 * Numbers are reported as ratios between peers measured in the same run, because absolute
 * req/s on a shared, noisy machine mean little.
 *
 * Env: BENCH_DURATION (5s), BENCH_WARMUP (2s), BENCH_GATEHOUSE_FLAGS (node flags for the gatehouse rows), BENCH_ONLY=name1,name2, BENCH_ROUNDS (3;
 * rounds are interleaved and each scenario's best is kept: on this shared VM interference
 * only ever slows a proxy down, so the best of a few short rounds estimates what it can do
 * better than one long round), BENCH_CONNECTIONS (32),
 * BENCH_NICE (-20 when root, else 0: priority of upstream, proxy and wrk over other work).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { coreBusyShare, coreTicks, groupCpuSeconds, machineBusy } from './lib/cpu.ts';
import { runLoad, type LoadRun } from './lib/load.ts';
import { acquireBenchLock } from './lib/lock.ts';
import { detectPinning, freePort, hasCommand, killAllSync, setNiceness, startProcess, stopProcess, waitForHttp200, waitForPort, waitForPortFree, type Pinning } from './lib/proc.ts';
import { cpuRatio, diagnostics, errorCount, evaluate, HEADERS, markdownTable, pct, ratio, rows, textTable, type ScenarioResult } from './lib/report.ts';
import { startUpstream, type Upstream } from './lib/upstream.ts';
import { FLOOR, RATIOS, SCENARIOS, TARGETS, type Scenario } from './scenarios.ts';

const ROOT = join(import.meta.dirname, '..');

interface Options { duration: string; warmup: string; only: string[] | null; rounds: number; connections: number; nice: number }

function options(): Options {
  const env = process.env;
  const only = env.BENCH_ONLY ? env.BENCH_ONLY.split(',').map((s) => s.trim()).filter(Boolean) : null;
  const unknown = (only ?? []).filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) {
    console.error(`unknown scenario(s) in BENCH_ONLY: ${unknown.join(', ')}\nknown: ${SCENARIOS.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  return {
    duration: env.BENCH_DURATION ?? '5s',
    warmup: env.BENCH_WARMUP ?? '2s',
    only,
    rounds: Math.max(1, Number(env.BENCH_ROUNDS ?? 3) || 3),
    connections: Math.max(1, Number(env.BENCH_CONNECTIONS ?? 32) || 32),
    // Only root may raise priority; a non-root `nice -n -10` would just print a warning.
    nice: env.BENCH_NICE !== undefined ? Number(env.BENCH_NICE) || 0 : process.getuid?.() === 0 ? -20 : 0,
  };
}

async function distinctFreePort(taken: number[]): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (!taken.includes(p)) return p;
  }
}

async function runScenario(s: Scenario, up: Upstream, dir: string, pin: Pinning | null, o: Options, driver: LoadRun['driver']): Promise<ScenarioResult> {
  const base = { name: s.name, group: s.group };
  const port = await distinctFreePort([up.port]);
  const statusPort = await distinctFreePort([up.port, port]);
  const launch = s.launch({ dir, port, statusPort, upstreamUrl: up.url, upstreamPort: up.port });
  const logFile = join(dir, `${s.name.replace(/[^A-Za-z0-9._-]/g, '_')}.log`);
  const proc = startProcess(s.name, pin?.proxy, launch.command, launch.args, logFile);
  const timeout = launch.startTimeoutMs ?? 15_000;
  let result: ScenarioResult;
  try {
    await waitForPort(port, timeout, proc);
    if (launch.readyUrl) await waitForHttp200(launch.readyUrl, timeout, proc);
    const load = s.load ?? {};
    const run: LoadRun = { driver, baseUrl: `http://127.0.0.1:${port}`, duration: o.warmup, connections: o.connections, cpu: pin?.load, dir, name: s.name };
    await runLoad(load, run); // warm-up: JIT, pools and caches; discarded
    const cpu0 = groupCpuSeconds(proc.child.pid!);
    const loadTicks = pin ? coreTicks(pin.load) : null;
    const proxyTicks = pin ? coreTicks(pin.proxy) : null;
    const t0 = performance.now();
    const m = await runLoad(load, { ...run, duration: o.duration });
    const elapsed = (performance.now() - t0) / 1000;
    const cpu1 = groupCpuSeconds(proc.child.pid!);
    const proxyCpu = cpu0 !== null && cpu1 !== null ? (cpu1 - cpu0) / elapsed : null;
    const loadCore = pin ? coreBusyShare(loadTicks, coreTicks(pin.load)) : null;
    const proxyCore = pin ? coreBusyShare(proxyTicks, coreTicks(pin.proxy)) : null;
    // Busy time on the proxy's core not spent by the proxy: kernel softirq plus other users' work.
    const proxyCoreOther = proxyCore !== null && proxyCpu !== null ? Math.max(0, proxyCore - proxyCpu) : null;
    const perCpu = proxyCpu ? m.rps / proxyCpu : null;
    result = { ...base, status: 'ok', ...m, proxyCpu, perCpu, proxyCoreOther, loadCore };
  } catch (e) {
    result = { ...base, status: 'failed', reason: (e as Error).message };
  } finally {
    await stopProcess(proc);
  }
  for (const p of [port, ...(launch.ports ?? [])]) {
    try {
      await waitForPortFree(p);
    } catch {
      console.error(`!! ${s.name}: port ${p} still in use after killing its process group`);
    }
  }
  return result;
}

/**
 * Best of the rounds stands for the scenario (its latencies come along): on a shared box
 * other users' work only ever slows a run down, so the fastest round is the least disturbed.
 */
function best(runs: ScenarioResult[]): ScenarioResult {
  const ok = runs.filter((r) => r.status === 'ok').sort((a, b) => b.rps! - a.rps!);
  if (!ok.length) return runs[0]!;
  const pick = ok[0]!;
  // Errors in any round taint the scenario, not just the round that was picked.
  const worst = ok.reduce((a, b) => (errorCount(b) > errorCount(a) ? b : a));
  return { ...pick, non2xx: worst.non2xx, socketErrors: worst.socketErrors, rounds: runs.length > 1 ? runs.map((r) => Math.round(r.rps ?? 0)) : undefined };
}

function line(s = ''): void {
  process.stdout.write(`${s}\n`);
}

async function main(): Promise<number> {
  const o = options();
  releaseLock = await acquireBenchLock(15 * 60_000, line);
  const pin = detectPinning();
  if (o.nice !== 0 && hasCommand('nice', '--version')) setNiceness(o.nice);
  const driver: LoadRun['driver'] = hasCommand('wrk') ? 'wrk' : 'autocannon';
  // Measured before anything of ours runs: how much other users were loading the box.
  const background = await machineBusy(1000);
  const dir = mkdtempSync(join(os.tmpdir(), 'gatehouse-bench-'));
  tempDir = dir;
  const selected = SCENARIOS.filter((s) => !o.only || o.only.includes(s.name));

  const up = await startUpstream(dir, pin?.load);
  const placement = pin ? `proxy on core ${pin.proxy}; ${driver} + upstream share core ${pin.load}` : 'NOT pinned (no taskset or < 2 cores): ratios are less trustworthy';
  const setup = `node ${process.version}, load ${driver} (${o.connections} connections), upstream ${up.kind}${up.kind === 'node' ? ' (nginx not installed: slower Node fallback)' : ''}, ${placement}`;
  const noise = background === null ? 'unknown' : `${Math.round(background * 100)}% of all cores busy just before the run`;
  line(`Gatehouse bench: ${setup}`);
  line(`background load: ${noise}${background !== null && background > 0.25 ? ' -- the box is busy: expect noisy numbers, prefer BENCH_ROUNDS=3 and the req/cpu-s column' : ''}`);
  line(`each scenario: ${o.warmup} warm-up (discarded) + ${o.duration} measured, ${o.rounds} round(s), nice ${o.nice}; temp dir ${dir}`);
  line();

  const runs = new Map<string, ScenarioResult[]>();
  const skipped: ScenarioResult[] = [];
  try {
    for (const s of selected) {
      const why = s.unavailable?.() ?? null;
      if (why) skipped.push({ name: s.name, group: s.group, status: 'skipped', reason: why });
    }
    const runnable = selected.filter((s) => !skipped.some((k) => k.name === s.name));
    for (let round = 1; round <= o.rounds; round++) {
      for (const s of runnable) {
        process.stdout.write(`${o.rounds > 1 ? `[round ${round}] ` : ''}${s.name.padEnd(22)} `);
        const r = await runScenario(s, up, dir, pin, o, driver);
        runs.set(s.name, [...(runs.get(s.name) ?? []), r]);
        line(r.status === 'ok'
          ? `${Math.round(r.rps!)} req/s, p99 ${r.p99Ms!.toFixed(2)}ms${errorCount(r) ? `  !! ${r.non2xx} non-2xx, ${r.socketErrors} socket errors` : ''}`
          : `FAILED: ${r.reason?.split('\n')[0]}`);
      }
    }
  } finally {
    await stopProcess(up.proc);
  }

  const results = selected.map((s) => skipped.find((k) => k.name === s.name) ?? best(runs.get(s.name)!));
  const body = rows(results, FLOOR);
  line();
  line(textTable(HEADERS, body));
  line();

  const ratios = RATIOS.map((r) => {
    const v = ratio(results, r.numerator, r.denominator);
    const c = cpuRatio(results, r.numerator, r.denominator);
    const value = v === null ? null : r.cost ? 1 - v : v;
    const perCpu = c === null ? null : r.cost ? 1 - c : c;
    return { ...r, value, perCpu };
  });
  const fmt = (r: { cost?: boolean }, x: number | null): string => (x === null ? 'n/a' : r.cost ? pct(x) : `${x.toFixed(2)}x`);
  for (const r of ratios) line(`${r.label.padEnd(50)} ${fmt(r, r.value).padStart(7)}   (per proxy CPU-second: ${fmt(r, r.perCpu)})`);
  line();

  const targets = [...TARGETS, ...selected.flatMap((s) => s.targets ?? [])].map((t) => evaluate(results, t));
  for (const t of targets) line(`${t.verdict}  ${t.label}: ${t.detail}`);

  for (const w of diagnostics(results)) line(`note: ${w}`);
  const problems = results.filter((r) => r.status === 'failed' || (r.status === 'ok' && errorCount(r) > 0));
  for (const r of results.filter((x) => x.status === 'skipped')) line(`SKIPPED ${r.name}: ${r.reason}`);
  if (problems.length) {
    line();
    line('!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!');
    for (const r of problems) {
      line(r.status === 'failed'
        ? `!! ${r.name} FAILED: ${r.reason}`
        : `!! ${r.name}: ${r.non2xx} non-2xx responses and ${r.socketErrors} socket errors: its numbers are NOT valid`);
    }
    line('!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!');
  }

  const date = new Date().toISOString();
  line();
  line('Markdown for docs/benchmarks.md:');
  line();
  line(`Run ${date.slice(0, 10)}: ${setup}; ${o.duration} measured after ${o.warmup} warm-up, ${o.rounds} round(s); background load: ${noise}.`);
  line();
  line(markdownTable(HEADERS, body));
  line();
  for (const t of targets) line(`- ${t.verdict} ${t.label}: ${t.detail}`);

  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  const json = { date, node: process.version, driver, upstream: up.kind, pinning: pin, backgroundBusy: background, options: o, results, ratios, targets };
  writeFileSync(join(ROOT, '.bench', 'last.json'), `${JSON.stringify(json, null, 2)}\n`);
  line();
  line('results written to .bench/last.json');

  // Keep generated configs and logs when something went wrong: they explain it.
  if (problems.length) line(`logs and generated configs kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  return problems.length || targets.some((t) => t.verdict === 'FAIL') ? 1 : 0;
}

let tempDir: string | undefined;
let releaseLock: (() => void) | undefined;

// Whatever ends this process (an exception included), leave no pinned, high-priority child behind.
process.on('exit', () => {
  killAllSync();
  releaseLock?.();
});
// `npm run bench | head` closes stdout early: keep running so children are still stopped.
process.stdout.on('error', () => undefined);

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAllSync();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    process.exit(130);
  });
}

try {
  process.exitCode = await main();
} catch (e) {
  killAllSync();
  console.error(e);
  process.exitCode = 1;
}
