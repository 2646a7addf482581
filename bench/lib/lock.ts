/**
 * One bench at a time per machine: two runs pin their proxies to the same core at the same
 * priority and both measure garbage. A pid file in the system temp dir (shared by every
 * checkout on the box) serialises them; a stale file (its pid is gone) is taken over.
 */
import { openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const LOCK = join(os.tmpdir(), 'gatehouse-bench.lock');

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Wait up to `maxWaitMs` for the lock; returns the release function. */
export async function acquireBenchLock(maxWaitMs: number, say: (s: string) => void): Promise<() => void> {
  const deadline = Date.now() + maxWaitMs;
  let told = false;
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => { try { if (readFileSync(LOCK, 'utf8') === String(process.pid)) rmSync(LOCK); } catch { /* already gone */ } };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = Number(readFileSync(LOCK, 'utf8').trim());
    if (!Number.isInteger(holder) || holder <= 0 || !alive(holder)) {
      rmSync(LOCK, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`another bench (pid ${holder}) still holds ${LOCK}`);
    if (!told) { say(`waiting for another bench run (pid ${holder}) to finish...`); told = true; }
    await sleep(1000);
  }
}
