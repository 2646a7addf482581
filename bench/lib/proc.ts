/**
 * Child-process plumbing for the bench: pinned spawns in their own process group (so a
 * gateway that forks workers is killed whole), port/HTTP readiness polls, and a check that
 * a port is really free again before the next scenario reuses the machine.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/** Which cores to pin to, or null when the machine cannot pin (no taskset, one core). */
export interface Pinning { load: string; proxy: string }

export function detectPinning(): Pinning | null {
  const hasTaskset = spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
  if (!hasTaskset || os.availableParallelism() < 2) return null;
  return { load: '0', proxy: '1' };
}

export function hasCommand(cmd: string, versionFlag = '-v'): boolean {
  const r = spawnSync(cmd, [versionFlag], { stdio: 'ignore' });
  return r.error === undefined;
}

let niceness = 0;

/**
 * Run bench processes at this nice level (run.ts defaults to -20 as root): on a box shared
 * with others' compiles and tests, a higher CFS weight keeps their work from eating into the
 * pinned proxy's core, which is what makes ratios between runs comparable.
 */
export function setNiceness(n: number): void {
  niceness = n;
}
// Not SCHED_FIFO: tried, and RT processes starve ksoftirqd, so loopback traffic stalls and
// a proxy spins at 95% CPU for a tenth of its normal throughput.

/** argv with `nice -n` and `taskset -c <cpu>` prefixes; both exec, so the pid stays the child's. */
export function pinned(cpu: string | undefined, command: string, args: string[]): [string, string[]] {
  let argv = [command, ...args];
  if (cpu !== undefined) argv = ['taskset', '-c', cpu, ...argv];
  if (niceness !== 0) argv = ['nice', '-n', String(niceness), ...argv];
  return [argv[0]!, argv.slice(1)];
}

export interface Managed { child: ChildProcess; logFile: string; name: string }

/**
 * Spawn detached (own process group) with stdout+stderr to a log file: a file instead of a
 * pipe so a chatty child can never block on a full pipe while under load.
 */
export function startProcess(name: string, cpu: string | undefined, command: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): Managed {
  const fd = openSync(logFile, 'a');
  const [cmd, argv] = pinned(cpu, command, args);
  const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', fd, fd], env: env ?? process.env });
  closeSync(fd);
  track(child);
  return { child, logFile, name };
}

const live = new Set<ChildProcess>();

/** Remember a detached child so killAllSync() can end its group if the runner is interrupted. */
export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try { process.kill(-child.pid, signal); } catch { /* group already gone */ }
}

/** SIGTERM the group, wait, then SIGKILL whatever is left (workers may outlive the leader). */
export async function stopProcess(m: Managed, graceMs = 3000): Promise<void> {
  const { child } = m;
  const exited = child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child, 'SIGTERM');
  const timer = sleep(graceMs).then(() => 'timeout' as const);
  if (await Promise.race([exited.then(() => 'exited' as const), timer]) === 'timeout') killGroup(child, 'SIGKILL');
  killGroup(child, 'SIGKILL');
  await exited;
}

/** Last resort on Ctrl-C / crash: leave no pinned process spinning on the shared machine. */
export function killAllSync(): void {
  for (const child of live) killGroup(child, 'SIGKILL');
}

export function tailLog(file: string, lines = 20): string {
  try { return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n'); } catch { return '(no log)'; }
}

/** A port the kernel just handed out; the tiny race until the child binds it is accepted. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

function tryListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Poll until `ok()` or the deadline; throws with the child's exit if it died meanwhile. */
async function poll(what: string, ok: () => Promise<boolean>, timeoutMs: number, m?: Managed): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (m && (m.child.exitCode !== null || m.child.signalCode !== null)) {
      throw new Error(`${m.name} exited (${m.child.exitCode ?? m.child.signalCode}) before ${what}:\n${tailLog(m.logFile)}`);
    }
    if (await ok()) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${m ? `:\n${tailLog(m.logFile)}` : ''}`);
}

export function waitForPort(port: number, timeoutMs: number, m?: Managed): Promise<void> {
  return poll(`port ${port}`, () => tryConnect(port), timeoutMs, m);
}

export function waitForHttp200(url: string, timeoutMs: number, m?: Managed): Promise<void> {
  return poll(`200 from ${url}`, async () => {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      return r.status === 200;
    } catch { return false; }
  }, timeoutMs, m);
}

export function waitForPortFree(port: number, timeoutMs = 5000): Promise<void> {
  return poll(`port ${port} to be free`, () => tryListen(port), timeoutMs);
}
