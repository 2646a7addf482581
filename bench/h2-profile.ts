/**
 * Where the gateway's CPU goes per request on the protocol rows (bench/protocols.ts), for
 * diagnosis rather than scoring: one gateway (`workers: 1`, alone on core 1) in front of
 * the Node upstream (HTTP/1.1, core 0) or the @grpc/grpc-js echo (`h2c://`), h2load on
 * core 0 with the rows' shapes, the gateway's CPU read from /proc around the measured time.
 * Under the bench lock (lib/lock.ts), as the runner, so it never measures beside a bench.
 *
 *   node bench/h2-profile.ts h1|h2c|grpc [seconds] [--cpu-prof]
 *
 * Prints req/s and req per gateway CPU-second; with --cpu-prof, writes the gateway's
 * .cpuprofile (sampled every 200 µs) under .bench/h2-profile/ for Chrome DevTools or a
 * script (divide self times by the request count for µs per request).
 * DOWNSTREAM=h1 (grpc mode) posts the calls over HTTP/1.1 (32 connections): the upstream
 * HTTP/2 side alone, without Node's http2 server.
 * H2LOAD_ARGS='-H te:trailers ...' adds h2load arguments (a request shape to compare).
 * GATEWAY_NODE_ARGS='--trace-gc ...' passes node/V8 flags to the gateway and shows its stdout
 * (where --trace-gc writes).
 * PROXY=bare (grpc only) runs peers/bare-grpc-proxy.ts in the gateway's place: the ceiling of a
 * pass-through on Node's `http2` module in the same layout. PROXY=own runs
 * peers/bare-own-h2-proxy.ts instead: the same pass-through on the own HTTP/2 frame code on
 * both sides (what a downstream server of our own could reach; docs/benchmarks.md, "Where the
 * rest of a gRPC call goes"). `node bench/h2-profile.ts direct` loads the gRPC echo itself,
 * pinned to core 1 (what the proxies are measured against).
 * ECHO_CPU=0 pins the gRPC echo to core 0 (with h2load) instead of every core (the bench
 * row's placement), so it never runs on the measured core; the echo's CPU is printed too.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireBenchLock } from './lib/lock.ts';
import { killAllSync, track } from './lib/proc.ts';
import net from 'node:net';

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { resolve(false); });
  });
}

const BENCH = import.meta.dirname;
const ROOT = join(BENCH, '..');
const [mode = '', secsArg = '8', flag] = process.argv.slice(2);
const nodeArgs = (process.env.GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
const LISTEN = 19600;
const UPSTREAM = 19601;
const STATUS = 19602;

if (!['h1', 'h2c', 'grpc', 'direct'].includes(mode)) { console.error('usage: [PROXY=bare|own] node bench/h2-profile.ts h1|h2c|grpc|direct [seconds] [--cpu-prof]'); process.exit(2); }
const bare = process.env.PROXY === 'bare' || process.env.PROXY === 'own';
if (bare && mode !== 'grpc') { console.error('PROXY=bare|own is for the grpc mode'); process.exit(2); }
const secs = Math.max(1, Math.round(Number(secsArg)));
const dir = join(ROOT, '.bench', 'h2-profile', `${mode}-${Date.now()}`);
mkdirSync(dir, { recursive: true });

/** A child pinned to `cores` at nice -20 (as the runner), in its own process group. */
function pinned(cores: string, args: string[], stdout: 'ignore' | 'inherit' = 'ignore'): ReturnType<typeof spawn> {
  const p = spawn('taskset', ['-c', cores, 'nice', '-n', '-20', ...args], { detached: true, stdio: ['ignore', stdout, 'inherit'] });
  track(p);
  return p;
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

const release = await acquireBenchLock(600_000, console.log);
try {
  // The gRPC echo runs on every core in the bench row too (protocol-upstream.ts).
  let echo: ReturnType<typeof spawn> | undefined;
  if (mode === 'grpc') echo = pinned(process.env.ECHO_CPU ?? '0-1', [process.execPath, join(BENCH, 'peers', 'protocol-upstream.ts'), 'grpc-echo', String(UPSTREAM)]);
  else if (mode !== 'direct') pinned('0', [process.execPath, join(BENCH, 'peers', 'node-upstream.ts'), String(UPSTREAM)]);
  const scheme = mode === 'grpc' || mode === 'direct' ? 'h2c' : 'http';
  writeFileSync(join(dir, 'gatehouse.yaml'), [
    'node:',
    `  listen: 127.0.0.1:${LISTEN}`,
    `  status: 127.0.0.1:${STATUS}`,
    '  workers: 1',
    '  http2: { cleartext: true }',
    '  log: { level: warn, access: { enabled: true, sample: 0.01 } }',
    'upstreams:',
    `  up: { targets: [{ url: "${scheme}://127.0.0.1:${UPSTREAM}" }] }`,
    'routes:',
    "  all: { match: { paths: ['/*'] }, upstream: up }",
    '',
  ].join('\n'));
  const prof = flag === '--cpu-prof' ? ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=200'] : [];
  // The measured process on core 1: the gateway, the bare proxy, or (direct) the echo itself.
  const args = bare ? [join(BENCH, 'peers', process.env.PROXY === 'own' ? 'bare-own-h2-proxy.ts' : 'bare-grpc-proxy.ts'), String(LISTEN), String(UPSTREAM)]
    : mode === 'direct' ? [join(BENCH, 'peers', 'protocol-upstream.ts'), 'grpc-echo', String(LISTEN)]
      : [join(ROOT, 'nodes', 'bin', 'gatehouse.js'), 'start', '--config', join(dir, 'gatehouse.yaml')];
  const gateway = pinned('1', [process.execPath, ...nodeArgs, ...prof, ...args], nodeArgs.length ? 'inherit' : 'ignore');
  for (let i = 0; i < 150; i++) {
    if (bare || mode === 'direct') { if (await listening(LISTEN)) break; } else {
      try { if ((await fetch(`http://127.0.0.1:${STATUS}/readyz`)).ok) break; } catch { /* not up yet */ }
    }
    await sleep(200);
  }
  const frame = join(dir, 'grpc-frame.bin');
  writeFileSync(frame, Buffer.concat([Buffer.from([0, 0, 0, 0, 16]), Buffer.from('0123456789abcdef')]));
  const grpcShape = process.env.DOWNSTREAM === 'h1' ? ['--h1', '-c', '32'] : ['-c', '4', '-m', '8'];
  const shape = mode === 'h1' ? ['--h1', '-c', '32']
    : mode === 'grpc' || mode === 'direct' ? [...grpcShape, '-d', frame, '-H', 'content-type: application/grpc', '-H', 'te: trailers']
      : ['-c', '4', '-m', '8'];
  shape.push(...(process.env.H2LOAD_ARGS ?? '').split(' ').filter(Boolean));
  const url = `http://127.0.0.1:${LISTEN}${mode === 'grpc' || mode === 'direct' ? '/bench.Echo/Unary' : '/'}`;
  spawnSync('taskset', ['-c', '0', 'h2load', '-D', '2', ...shape, url]); // warm-up
  const before = cpuSeconds(gateway.pid!);
  const echoBefore = echo ? cpuSeconds(echo.pid!) : 0;
  const out = spawnSync('taskset', ['-c', '0', 'nice', '-n', '-20', 'h2load', '-D', String(secs), ...shape, url], { encoding: 'utf8' }).stdout;
  const cpu = cpuSeconds(gateway.pid!) - before;
  const echoCpu = echo ? cpuSeconds(echo.pid!) - echoBefore : 0;
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
  console.log(`${mode}: ${rps.toFixed(0)} req/s, gateway ${cpu.toFixed(2)} CPU-s in ${secs} s, ${(rps * secs / cpu).toFixed(0)} req/cpu-s${echo ? `, echo ${echoCpu.toFixed(2)} CPU-s` : ''}; ${/status codes: .*/.exec(out)?.[0] ?? out.slice(-300)}`);
  // SIGTERM: the gateway drains and exits, which writes the profile.
  process.kill(gateway.pid!, 'SIGTERM');
  await new Promise((resolve) => gateway.once('exit', resolve));
  if (prof.length) console.log(`profile in ${dir}`);
} finally {
  killAllSync(); // the upstream (and the gateway, if it did not exit)
  release();
}
