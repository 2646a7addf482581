/**
 * `npm run bench:scale`: config at scale (docs/benchmarks.md "Config at scale").
 * Generates a config (default 10,000 routes with 10% key-auth + acl + rate-limit and 10%
 * validate, 100,000 consumers with sha256 keys, 1,000 upstreams whose targets refuse), then
 * measures on a standalone node in file mode:
 *   - `gatehouse validate` wall time and peak RSS;
 *   - start → /readyz 200 and RSS when ready;
 *   - one route added / changed / removed → the change answers (file written → first
 *     request that sees it), one consumer added → its key is accepted;
 *   - RSS after EDITS more edits in a row (does memory grow with edits?).
 * A step slower than SCALE_CUT seconds (120) is cut and reported as "> CUT s".
 * Sizes: SCALE_ROUTES, SCALE_CONSUMERS, SCALE_UPSTREAMS, SCALE_EDITS (100). SCALE_NODE_FLAGS: node
 * flags for the gateway (e.g. `--trace-gc`; its stdout is then shown); SCALE_SLOW=ms prints each of
 * the edits in a row that took longer, with its wall-clock time.
 * Output: a markdown table and .bench/scale.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { scaleConfig, digest, routeName } from './generate.ts';
import { CLI, CUT, EDITS, ROOT, cpuSec, freePort, heapMb, ms, note, results, rssMb, sizes } from './common.ts';
import { acquireBenchLock } from '../lib/lock.ts';


async function get(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers, signal: AbortSignal.timeout(5000) });
    await r.arrayBuffer();
    return r.status;
  } catch { return 0; }
}

/** Poll until ok(status) or the cut; returns ms from t0, or undefined when cut. */
async function until(t0: number, probe: () => Promise<number>, ok: (s: number) => boolean): Promise<number | undefined> {
  while (performance.now() - t0 < CUT) {
    if (ok(await probe())) return performance.now() - t0;
    await sleep(2);
  }
  return undefined;
}

/** Replace the file in one rename, as editors and config tools do. */
function writeAtomic(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-scale-'));
  const file = join(dir, 'gateway.json');
  const [listen, status] = [await freePort(), await freePort()];
  const node = { listen: `127.0.0.1:${listen}`, status: `127.0.0.1:${status}`, workers: 1, log: { level: 'warn', access: { enabled: false } } };
  let t = performance.now();
  const dyn = scaleConfig(sizes) as { upstreams: Record<string, unknown>; consumers: Record<string, unknown>; routes: Record<string, unknown> };
  const doc = { node, ...dyn };
  const text = JSON.stringify(doc);
  writeFileSync(file, text);
  console.log(`generated ${sizes.routes} routes, ${sizes.consumers} consumers, ${sizes.upstreams} upstreams (${(text.length / 1e6).toFixed(1)} MB) in ${ms(performance.now() - t)}`);

  // validate: wall time and peak RSS (GNU time's %M, KiB) when /usr/bin/time exists.
  const hasTime = spawnSync('/usr/bin/time', ['-f', '%M', 'true'], { stdio: 'ignore' }).status === 0;
  t = performance.now();
  const v = spawnSync(hasTime ? '/usr/bin/time' : process.execPath, hasTime ? ['-f', 'maxrss %M cpu %U %S', process.execPath, CLI, 'validate', '--config', file] : [CLI, 'validate', '--config', file], { encoding: 'utf8', timeout: CUT, maxBuffer: 64 << 20 });
  const vt = performance.now() - t;
  if (v.error || v.status !== 0) note('validate', v.error ? `> ${CUT / 1000} s (cut)` : `failed: ${(v.stderr ?? '').slice(0, 300)}`);
  else {
    const peak = /maxrss (\d+) cpu ([\d.]+) ([\d.]+)/.exec(v.stderr ?? '');
    note('validate', `${ms(vt)}${peak ? ` (CPU ${(Number(peak[2]) + Number(peak[3])).toFixed(1)} s), peak RSS ${(Number(peak[1]) / 1024).toFixed(0)} MB` : ''}`);
  }

  // start → ready
  t = performance.now();
  const flags = process.env.SCALE_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...flags, CLI, 'start', '--config', file], { stdio: ['ignore', flags.length ? 'inherit' : 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { if (stderr.length < 20000) stderr += c.toString(); });
  const pid = child.pid!;
  let peakStart = 0;
  const sampler = setInterval(() => { peakStart = Math.max(peakStart, rssMb(pid) || 0); }, 100);
  const stop = (): void => { clearInterval(sampler); try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } };
  try {
    const ready = await until(t, () => get(status, '/readyz'), (s) => s === 200);
    if (ready === undefined) { note('start → ready', `> ${CUT / 1000} s (cut), RSS ${rssMb(pid).toFixed(0)} MB`); console.error(stderr.slice(-2000)); return; }
    note('start → ready', `${ms(ready)} (CPU ${cpuSec(pid).toFixed(1)} s), RSS ${rssMb(pid).toFixed(0)} MB (peak while loading ${peakStart.toFixed(0)} MB)`);
    await sleep(1000);
    note('RSS settled', `${rssMb(pid).toFixed(0)} MB`);

    const routes = dyn.routes;
    const cpuTimes: number[] = [];
    const edit = async (label: string, change: () => void, probe: () => Promise<number>, ok: (s: number) => boolean): Promise<number | undefined> => {
      change();
      const body = JSON.stringify({ node, ...dyn });
      const c0 = cpuSec(pid);
      // From the file in place (the rename), not from the start of writing 13 MB: what the
      // gateway cannot see yet is the editor's time, not its own.
      writeAtomic(file, body);
      const t0 = performance.now();
      const took = await until(t0, probe, ok);
      const cpu = cpuSec(pid) - c0;
      if (label) note(label, took === undefined ? `> ${CUT / 1000} s (cut)` : `${ms(took)} (gateway CPU ${ms(cpu * 1000)})`);
      if (took !== undefined) cpuTimes.push(cpu * 1000);
      return took;
    };
    // A route the table does not have answers 404; once added it answers 502 (its target refuses).
    const added = (s: number): boolean => s !== 404 && s !== 0;
    await edit('one route added → served', () => { routes.added = { match: { paths: ['/added/one'] }, upstream: 'u0' }; }, () => get(listen, '/added/one'), added);
    await edit('one route changed → served', () => { routes.added = { match: { paths: ['/added/two'] }, upstream: 'u0' }; }, () => get(listen, '/added/two'), added);
    await edit('one route removed → gone', () => { delete routes.added; }, () => get(listen, '/added/two'), (s) => s === 404);
    // A consumer added with a new key: the auth route (r0 has key-auth + acl) stops answering 401.
    const key = 'brand-new-consumer-key';
    await edit('one consumer added → key accepted', () => { dyn.consumers.fresh = { groups: ['all'], keys: [digest(key)] }; }, () => get(listen, `/svc0/${routeName(0)}`, { 'x-api-key': key }), (s) => s !== 401 && s !== 0);

    const before = rssMb(pid);
    const liveBefore = await heapMb(status, 'live');
    const times: number[] = [];
    let cut = false;
    for (let i = 0; i < EDITS && !cut; i++) {
      const took = await edit('', () => { routes.added = { match: { paths: [`/edit/${i}`] }, upstream: `u${i % sizes.upstreams}` }; }, () => get(listen, `/edit/${i}`), added);
      if (took === undefined) cut = true; else times.push(took);
      if (took !== undefined && process.env.SCALE_SLOW && took > Number(process.env.SCALE_SLOW)) console.log(`slow edit ${i} at ${Date.now() - Math.round(took)}: ${ms(took)} (pid ${pid})`);
    }
    times.sort((a, b) => a - b);
    const p = (q: number): number => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? NaN;
    const cpus = cpuTimes.slice(4).sort((a, b) => a - b);
    note(`${EDITS} route edits in a row`, `${times.length} applied${cut ? ' (cut)' : ''}; p50 ${ms(p(0.5))}, p99 ${ms(p(0.99))} (gateway CPU per edit p50 ${ms(cpus[Math.floor(cpus.length / 2)] ?? NaN)}); RSS ${before.toFixed(0)} → ${rssMb(pid).toFixed(0)} MB`);
    // Give the retired snapshots their 30 s close and a GC chance, then look again.
    await sleep(35_000);
    // V8 keeps heap pages it grew into and lets garbage pile up between full GCs: the heap
    // live after the last full GC (the gateway's own gauge) is what it retains.
    note('after edits + 35 s', `RSS ${rssMb(pid).toFixed(0)} MB, heap used ${await heapMb(status, 'used')}; heap live after the last full GC ${liveBefore} before the edits → ${await heapMb(status, 'live')}`);
  } finally {
    stop();
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(ROOT, '.bench'), { recursive: true });
    writeFileSync(join(ROOT, '.bench/scale.json'), JSON.stringify({ at: new Date().toISOString(), sizes, results }, null, 2));
    console.log(`\n| step (${sizes.routes} routes, ${sizes.consumers} consumers, ${sizes.upstreams} upstreams) | result |\n| --- | --- |`);
    for (const r of results) console.log(`| ${r.step} | ${r.value} |`);
  }
}

// One bench at a time on the box (bench/lib/lock.ts): the protocol rows and these share two cores.
const release = await acquireBenchLock(30 * 60_000, (s) => console.log(s));
try { await main(); } finally { release(); }
