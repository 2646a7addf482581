/**
 * `npm run bench:scale:cluster`: the scale config (bench/scale/generate.ts) in cluster mode.
 * A real etcd (Debian's etcd-server) holds every route, consumer and upstream as its own key
 * (<prefix>/routes/<name>, ...), three node processes load it, and then, while a steady load
 * runs through all three against a route with a live upstream, route and consumer edits land
 * as single etcd puts. Measured per edit: time from the put returning to each node serving
 * the change (the last node is the one that counts), requests that failed while edits landed
 * (must be 0), and RSS per node before and after the edits.
 * Sizes as bench/scale/run.ts (SCALE_ROUTES, SCALE_CONSUMERS, SCALE_UPSTREAMS); SCALE_EDITS
 * route edits (default 100) after SCALE_WARMUP warm-up edits (default 20; RSS is compared over
 * the measured ones; SCALE_SAMPLE: RSS sampled every that many edits, default 25); SCALE_NODES nodes (default 3). SCALE_NODE_OUT=dir: each node's stdout to a file there. SCALE_NODE_FLAGS: node flags for the
 * gateways (e.g. `--import <file>` of a diagnostic module); SCALE_LOG: the nodes' log level (default warn; info shows each "config applied" with its phase times); SCALE_SLOW=ms prints each edit whose
 * last node took longer, with its wall-clock time.
 * Output: a markdown table and .bench/scale-cluster.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { scaleConfig, digest, routeName } from './generate.ts';
import { CLI, CUT, EDITS, ROOT, cpuSec, freePort, heapMb, ms, note, num, results, rssMb, sizes } from './common.ts';
import { acquireBenchLock } from '../lib/lock.ts';

const WARMUP = num('SCALE_WARMUP', 20);
const NODES = num('SCALE_NODES', 3);
const SAMPLE = num('SCALE_SAMPLE', 25);
const PREFIX = '/gatehouse-scale';

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent, timeout: 5000 }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-scale-cluster-'));
  const children: ChildProcess[] = [];
  const kill = (signal: NodeJS.Signals = 'SIGKILL'): void => { for (const c of children) { try { process.kill(-c.pid!, signal); } catch { /* gone */ } } };
  process.on('exit', () => kill());
  const live = http.createServer((_req, res) => { res.end('ok'); });
  await new Promise<void>((r) => live.listen(0, '127.0.0.1', () => r()));
  const livePort = (live.address() as AddressInfo).port;
  let client: Etcd3 | undefined;
  try {
    // etcd, sized for bulk loading: 1,000 puts per transaction.
    const [cport, pport] = [await freePort(), await freePort()];
    const endpoint = `http://127.0.0.1:${cport}`;
    const etcd = spawn('etcd', ['--name', 'scale', '--data-dir', join(dir, 'etcd'), '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', `http://127.0.0.1:${pport}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${pport}`, '--initial-cluster', `scale=http://127.0.0.1:${pport}`,
      '--max-txn-ops', '1000', '--max-request-bytes', '8388608', '--log-level', 'error'], { stdio: 'ignore', detached: true });
    children.push(etcd);
    client = new Etcd3({ hosts: endpoint });
    for (let i = 0; ; i++) {
      try { await client.get('probe'); break; } catch { if (i > 100) throw new Error('etcd did not start'); await sleep(100); }
    }

    const dyn = scaleConfig(sizes) as Record<'upstreams' | 'consumers' | 'routes', Record<string, unknown>>;
    dyn.upstreams.live = { targets: [{ url: `http://127.0.0.1:${livePort}` }] };
    dyn.routes.live = { match: { paths: ['/live'] }, upstream: 'live' };
    let t = performance.now();
    const puts: Array<[string, string]> = [];
    for (const kind of ['upstreams', 'consumers', 'routes'] as const) for (const [name, v] of Object.entries(dyn[kind])) puts.push([`${PREFIX}/${kind}/${name}`, JSON.stringify(v)]);
    for (let i = 0; i < puts.length; i += 1000) {
      const success = puts.slice(i, i + 1000).map(([key, value]) => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } }));
      await client.kv.txn({ compare: [], success, failure: [] });
    }
    note('etcd loaded', `${puts.length.toLocaleString('en')} keys in ${ms(performance.now() - t)}`);

    // The nodes: cluster mode, config only from etcd, access log off (what is measured is config work).
    const nodes: Array<{ listen: number; status: number; pid: number }> = [];
    t = performance.now();
    for (let n = 0; n < NODES; n++) {
      const [listen, status] = [await freePort(), await freePort()];
      const file = join(dir, `node${n}.json`);
      writeFileSync(file, JSON.stringify({ node: { listen: `127.0.0.1:${listen}`, status: `127.0.0.1:${status}`, workers: 1, log: { level: process.env.SCALE_LOG ?? 'warn', access: { enabled: false } }, cluster: { id: `n${n}`, etcd: { endpoints: [endpoint], prefix: PREFIX }, startTimeout: '60s' } } }));
      const prof = process.env.SCALE_PROF ? [`--cpu-prof`, `--cpu-prof-dir=${process.env.SCALE_PROF}`] : [];
      prof.push(...(process.env.SCALE_NODE_FLAGS?.split(' ').filter(Boolean) ?? []));
      // SCALE_NODE_OUT=dir: each node's stdout (e.g. --trace-gc from SCALE_NODE_FLAGS) to dir/node<n>.out.
      const out = process.env.SCALE_NODE_OUT ? openSync(join(process.env.SCALE_NODE_OUT, `node${n}.out`), 'w') : 'ignore';
      const child = spawn(process.execPath, [...prof, CLI, 'start', '--config', file], { stdio: ['ignore', out, 'inherit'], detached: true });
      children.push(child);
      nodes.push({ listen, status, pid: child.pid! });
    }
    for (const n of nodes) {
      while (await get(n.status, '/readyz') !== 200 || await get(n.listen, '/live') !== 200) {
        if (performance.now() - t > CUT) throw new Error('nodes not ready within the cut');
        await sleep(50);
      }
    }
    note(`${NODES} nodes start → ready`, `${ms(performance.now() - t)} (all ${NODES} at once; CPU per node ${nodes.map((n) => cpuSec(n.pid).toFixed(1)).join(', ')} s), RSS ${nodes.map((n) => rssMb(n.pid).toFixed(0)).join(', ')} MB`);
    await sleep(2000);

    // Steady load through every node against the live route while the edits land.
    let sent = 0;
    let failed = 0;
    /** Status of each failure (0: no answer within 5 s). */
    const failedBy = new Map<number, number>();
    let loading = true;
    const loaders = Array.from({ length: 6 }, async (_, k) => {
      while (loading) {
        const s = await get(nodes[(sent + k) % nodes.length]!.listen, '/live');
        sent++;
        if (s !== 200) { failed++; failedBy.set(s, (failedBy.get(s) ?? 0) + 1); }
      }
    });

    const rssReady = nodes.map((n) => rssMb(n.pid));
    /** Put, then poll every node until each shows the change; ms from the put returning, per node. */
    const land = async (key: string, value: string | undefined, probe: (port: number) => Promise<boolean>): Promise<number[] | undefined> => {
      if (value === undefined) await client!.delete().key(key); else await client!.put(key).value(value);
      const t0 = performance.now();
      const took = await Promise.all(nodes.map(async (n) => {
        while (performance.now() - t0 < CUT) { if (await probe(n.listen)) return performance.now() - t0; await sleep(2); }
        return Infinity;
      }));
      return took.every(Number.isFinite) ? took : undefined;
    };
    const serves = (path: string) => async (port: number): Promise<boolean> => { const s = await get(port, path); return s !== 404 && s !== 0; };
    const show = (label: string, took: number[] | undefined): void => note(label, took ? `last node ${ms(Math.max(...took))} (nodes ${took.map(ms).join(', ')})` : `> ${CUT / 1000} s (cut)`);
    show('one route added → served on every node', await land(`${PREFIX}/routes/added`, JSON.stringify({ match: { paths: ['/added/one'] }, upstream: 'u0' }), serves('/added/one')));
    show('one route changed → served on every node', await land(`${PREFIX}/routes/added`, JSON.stringify({ match: { paths: ['/added/two'] }, upstream: 'u0' }), serves('/added/two')));
    show('one route removed → gone on every node', await land(`${PREFIX}/routes/added`, undefined, async (port) => (await get(port, '/added/two')) === 404));
    const key = 'brand-new-consumer-key';
    show('one consumer added → key accepted on every node', await land(`${PREFIX}/consumers/fresh`, JSON.stringify({ groups: ['all'], keys: [digest(key)] }), async (port) => { const s = await get(port, `/svc0/${routeName(0)}`, { 'x-api-key': key }); return s !== 401 && s !== 0; }));

    // Warm-up edits first (SCALE_WARMUP, default 20): the start-up garbage and the first
    // snapshot save land there, not in the window whose RSS is compared.
    for (let i = 0; i < WARMUP; i++) await land(`${PREFIX}/routes/warm`, JSON.stringify({ match: { paths: [`/warm/${i}`] }, upstream: 'u1' }), serves(`/warm/${i}`));
    const rssBefore = nodes.map((n) => rssMb(n.pid));
    const heapBefore = await heapInUse(nodes);
    const liveBefore = await heapInUse(nodes, 'live');
    /** RSS of each node every SAMPLE edits: a trend says retention, a saw says garbage and full GCs. */
    const rssSeries: number[][] = nodes.map((n) => [rssMb(n.pid)]);
    const cpuBefore = nodes.map((n) => cpuSec(n.pid));
    const all: number[] = [];
    const last: number[] = [];
    for (let i = 0; i < EDITS; i++) {
      const took = await land(`${PREFIX}/routes/edit`, JSON.stringify({ match: { paths: [`/edit/${i}`] }, upstream: `u${i % sizes.upstreams}` }), serves(`/edit/${i}`));
      if (!took) { note(`${EDITS} route edits`, `cut at edit ${i}`); break; }
      all.push(...took);
      last.push(Math.max(...took));
      if ((i + 1) % SAMPLE === 0) nodes.forEach((n, k) => rssSeries[k]!.push(rssMb(n.pid)));
      if (process.env.SCALE_SLOW && Math.max(...took) > Number(process.env.SCALE_SLOW)) console.log(`slow edit ${i} at ${Date.now() - Math.round(Math.max(...took))}: ${took.map(ms).join(', ')} (pids ${nodes.map((n) => n.pid).join(', ')})`);
    }
    loading = false;
    await Promise.all(loaders);
    const cpu = nodes.map((n, i) => (cpuSec(n.pid) - cpuBefore[i]!) * 1000 / (EDITS + 4));
    note(`${EDITS} route edits in a row (put → served)`, `every node p50 ${ms(pct(all, 0.5))}, p99 ${ms(pct(all, 0.99))}; last node per edit p50 ${ms(pct(last, 0.5))}, p99 ${ms(pct(last, 0.99))}; node CPU per edit (load included) ${cpu.map(ms).join(', ')}`);
    note('requests under load while edits landed', `${sent.toLocaleString('en')} sent, ${failed} failed${failed ? ` (by status: ${[...failedBy].map(([st, n]) => `${st === 0 ? 'no answer in 5 s' : st} × ${n}`).join(', ')})` : ''}`);
    const heapAfter = await heapInUse(nodes);
    note(`RSS before → after the ${EDITS} edits (after ${WARMUP} warm-up edits; at ready + 2 s: ${rssReady.map((r) => r.toFixed(0)).join(', ')} MB)`, nodes.map((n, i) => `${rssBefore[i]!.toFixed(0)} → ${rssMb(n.pid).toFixed(0)} MB`).join(', ') + `; heap in use ${heapBefore.join(', ')} → ${heapAfter.join(', ')}`);
    note(`RSS every ${SAMPLE} edits, per node (MB)`, rssSeries.map((xs) => xs.map((x) => x.toFixed(0)).join(' ')).join('; '));
    const liveAfter = await heapInUse(nodes, 'live');
    note('heap live after the last full GC (gatehouse_nodejs_heap_live_bytes), before → after the edits', nodes.map((_, i) => `${liveBefore[i]} → ${liveAfter[i]}`).join(', '));
    await sleep(35_000);
    // V8 keeps heap pages it grew into: heap in use (each node's own gauge) shows what is live.
    note('RSS 35 s after the edits', `${nodes.map((n) => `${rssMb(n.pid).toFixed(0)} MB`).join(', ')} (heap in use ${(await heapInUse(nodes)).join(', ')})`);
  } finally {
    client?.close();
    // SCALE_PROF: let the nodes exit on their own so they write their CPU profiles.
    if (process.env.SCALE_PROF) { kill('SIGTERM'); await sleep(8000); }
    kill();
    live.close();
    agent.destroy();
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(ROOT, '.bench'), { recursive: true });
    writeFileSync(join(ROOT, '.bench/scale-cluster.json'), JSON.stringify({ at: new Date().toISOString(), sizes, nodes: NODES, results }, null, 2));
    console.log(`\n| cluster step (${NODES} nodes, ${sizes.routes} routes, ${sizes.consumers} consumers, ${sizes.upstreams} upstreams) | result |\n| --- | --- |`);
    for (const r of results) console.log(`| ${r.step} | ${r.value} |`);
  }
}

/** Each node's heap gauge in MB (common.ts heapMb). */
function heapInUse(nodes: ReadonlyArray<{ status: number }>, which: 'used' | 'live' = 'used'): Promise<string[]> {
  return Promise.all(nodes.map((n) => heapMb(n.status, which)));
}

// One bench at a time on the box (bench/lib/lock.ts): the protocol rows and these share two cores.
const release = await acquireBenchLock(30 * 60_000, (s) => console.log(s));
try { await main(); } finally { release(); }
