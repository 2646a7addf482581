/**
 * What the scale benchmarks (run.ts: standalone, cluster.ts: three nodes on etcd) share: the
 * sizes from the environment, the results table, and reading a child process's RSS and CPU
 * time from /proc (on a shared box wall time mostly measures the others).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import type { ScaleSizes } from './generate.ts';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const CLI = join(ROOT, 'nodes/src/cli/gatehouse.ts');

export const num = (name: string, def: number): number => (process.env[name] === undefined ? def : Number(process.env[name]));
export const sizes: ScaleSizes = { routes: num('SCALE_ROUTES', 10_000), consumers: num('SCALE_CONSUMERS', 100_000), upstreams: num('SCALE_UPSTREAMS', 1_000) };
/** A step slower than this many ms is cut and reported as "> CUT s". */
export const CUT = num('SCALE_CUT', 120) * 1000;
export const EDITS = num('SCALE_EDITS', 100);

export const results: Array<{ step: string; value: string }> = [];
export const note = (step: string, value: string): void => { results.push({ step, value }); console.log(`${step}: ${value}`); };
export const ms = (t: number): string => (t >= 1000 ? `${(t / 1000).toFixed(2)} s` : `${t.toFixed(0)} ms`);

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch { return NaN; }
}

/** CPU seconds (user + system) the process has used, all its threads. */
export function cpuSec(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch { return NaN; }
}

/**
 * A node's heap gauge from its status port ("123 MB"), '?' when it did not answer: `used` (garbage
 * included) or `live` (after its last full GC: what it retains; 'no full GC yet' before one).
 */
export async function heapMb(statusPort: number, which: 'used' | 'live'): Promise<string> {
  const gauge = new RegExp(`^gatehouse_nodejs_heap_${which === 'used' ? 'size_used' : 'live'}_bytes (\\S+)`, 'm');
  const m = gauge.exec(await fetch(`http://127.0.0.1:${statusPort}/metrics`).then((r) => r.text()).catch(() => ''));
  if (!m) return '?';
  return which === 'live' && Number(m[1]) === 0 ? 'no full GC yet' : `${(Number(m[1]) / 1048576).toFixed(0)} MB`;
}
