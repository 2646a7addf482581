/**
 * CPU accounting from /proc, to tell whether a run was limited by the proxy (its core near
 * 100%) or by the load core (wrk + upstream saturated, proxy idling). Linux-only; returns
 * null elsewhere so the columns just read "-".
 */
import { readFileSync, readdirSync } from 'node:fs';

// USER_HZ is 100 on every mainstream Linux build; /proc/*/stat times are in these ticks.
const TICKS_PER_SEC = 100;

/** utime+stime (seconds) of every process whose process group is `pgid`. */
export function groupCpuSeconds(pgid: number): number | null {
  let ticks = 0;
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try { stat = readFileSync(`/proc/${entry}/stat`, 'utf8'); } catch { continue; }
      // Fields after "(comm)": state ppid pgrp ... utime(14) stime(15), counted from 1.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) !== pgid) continue;
      ticks += Number(f[11]) + Number(f[12]);
    }
  } catch { return null; }
  return ticks / TICKS_PER_SEC;
}

/** Busy and total ticks of one core from /proc/stat. */
export function coreTicks(core: string): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${core} `));
    if (!line) return null;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch { return null; }
}

export function coreBusyShare(before: { busy: number; total: number } | null, after: { busy: number; total: number } | null): number | null {
  if (!before || !after || after.total === before.total) return null;
  return (after.busy - before.busy) / (after.total - before.total);
}

/** Share of the whole machine busy over `ms` (before the bench starts: other users' load). */
export async function machineBusy(ms: number): Promise<number | null> {
  const before = coreTicks(''); // the aggregate "cpu " line
  await new Promise((resolve) => setTimeout(resolve, ms));
  return coreBusyShare(before, coreTicks(''));
}
