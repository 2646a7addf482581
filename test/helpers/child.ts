/**
 * Child processes the harness starts (etcd, nats-server). Every child is tracked and killed
 * when the test process ends, however it ends: normal exit, process.exit(), or SIGINT/SIGTERM
 * from ava's timeout or a Ctrl-C, so a failed test never leaves a server holding a port.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let hooked = false;

function killAllNow(): void {
  for (const c of live) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
  live.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  // 'exit' handlers must be synchronous; kill() is.
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Re-raise after cleaning up so the default action (terminate) still happens.
    process.once(sig, () => { killAllNow(); process.kill(process.pid, sig); });
  }
}

export interface Tracked {
  child: ChildProcess;
  /** Last ~16 KB of stdout+stderr, to explain a failed start. */
  output(): string;
  /** Resolves when the process has exited (immediately if it already has). */
  exited(): Promise<void>;
}

export function spawnTracked(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Tracked {
  hookExit();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  live.add(child);
  let buf = '';
  const keep = (d: Buffer) => { buf = (buf + d.toString()).slice(-16384); };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => { live.delete(child); resolve(); });
    child.once('error', (err) => { buf += `\nspawn error: ${err.message}`; live.delete(child); resolve(); });
  });
  return { child, output: () => buf, exited: () => exit };
}

/** Signal a tracked child and wait for it to go; SIGKILL if it ignores the signal. */
export async function killTracked(t: Tracked, signal: NodeJS.Signals = 'SIGKILL', graceMs = 3000): Promise<void> {
  const { child } = t;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await t.exited();
  clearTimeout(timer);
}
