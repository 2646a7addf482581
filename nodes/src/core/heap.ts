/**
 * The node's view of its V8 heap: what it retains, how much garbage V8 may pile on top, and
 * the V8 flags a gateway node starts with (pretenuring off: setNodeV8Flags).
 *
 * Heap live: heap in use just after the last full (mark-compact) collection, i.e. what the
 * process retains. `gatehouse_nodejs_heap_size_used_bytes` also counts garbage V8 has not
 * collected yet, and V8 lets the old generation grow to a multiple of its live size before it
 * collects, so a node that allocates large short-lived objects (a new route table per config
 * edit) shows a rising heap and RSS between full collections without retaining anything. The
 * gauge tells the two apart: it only rises when something is kept.
 *
 * Heap growth: V8 picks that multiple itself, up to 4x the live heap when a full collection
 * is slow next to the mutator, which is the case for a large config (hundreds of MB of
 * long-lived objects). Under a stream of config edits (each leaves one collection record of
 * garbage, ~0.4 MB at 10,000 routes) a 240 MB node then climbed past 1 GB of RSS over 1,000
 * edits without one full collection. Once the live heap passes LARGE_HEAP the node caps the
 * growth at 1.5x (docs/decisions/0011-heap-growth.md); below it (a small config, where 4x is
 * a few tens of MB and fewer collections are worth more) V8 keeps its own choice. A node
 * started with `--heap-growing-percent` keeps what it was given.
 *
 * One observer per process. GC entries reach it on a later turn of the event loop, so the
 * reading includes what was allocated in between (little, next to a heap of hundreds of MB).
 */
import { PerformanceObserver, constants, type PerformanceObserverEntryList } from 'node:perf_hooks';
import v8 from 'node:v8';

/** Live heap past which the growth is capped, and the cap (V8's `--heap-growing-percent`). */
export const LARGE_HEAP = 128 * 1048576;
export const CAPPED_GROWTH_PERCENT = 50;

let live = 0;
let started = false;
let bounding = false;
let capped = false;

/**
 * The growth setting for a live heap: the cap past LARGE_HEAP, V8's own (0) again below half
 * of it (a gap, so a heap near the line does not flip at every collection), else unchanged.
 */
export function growthFor(liveBytes: number, cappedNow: boolean): boolean {
  if (liveBytes > LARGE_HEAP) return true;
  if (liveBytes < LARGE_HEAP / 2) return false;
  return cappedNow;
}

function onEntries(list: PerformanceObserverEntryList): void {
  for (const e of list.getEntries()) {
    if (((e as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
    live = v8.getHeapStatistics().used_heap_size;
    if (bounding) {
      const cap = growthFor(live, capped);
      // Read by V8 at each full collection when it sets the next limit.
      if (cap !== capped) v8.setFlagsFromString(`--heap-growing-percent=${cap ? CAPPED_GROWTH_PERCENT : 0}`);
      capped = cap;
    }
    return;
  }
}

/** Starts reading the live heap (once per process; an observer holds no handle, so it never keeps the process up). */
export function watchHeapLive(): void {
  if (started) return;
  started = true;
  new PerformanceObserver(onEntries).observe({ entryTypes: ['gc'] });
}

/** Whether the node's own command line sets V8 flag `name` (either spelling, with or without `no-`). */
function onCommandLine(execArgv: readonly string[], name: string): boolean {
  const flag = new RegExp(`^--(no-)?${name.replace(/[-_]/g, '[-_]')}(=|$)`);
  return execArgv.some((a) => flag.test(a));
}

/**
 * V8 flags of a gateway node, set before any server exists (docs/decisions/0010). Allocation-site
 * pretenuring sends the objects of sites whose objects often survive a scavenge straight to
 * old space; an HTTP/2 stream's objects survive one while the stream is in flight, so on the
 * HTTP/2 path V8 pretenures request-scoped garbage, old space fills and every scavenge slows
 * 10-25x. A node started with either form of the flag on its command line (node's own
 * arguments; NODE_OPTIONS does not take V8 flags) keeps what it was given. Returns whether
 * the flag was set here.
 */
export function setNodeV8Flags(execArgv: readonly string[] = process.execArgv): boolean {
  if (onCommandLine(execArgv, 'allocation-site-pretenuring')) return false;
  v8.setFlagsFromString('--no-allocation-site-pretenuring');
  return true;
}

/**
 * A gateway node's process: also cap the heap growth once the live heap is large, unless the
 * command line set `--heap-growing-percent`. Returns whether the node manages it.
 */
export function boundHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (onCommandLine(execArgv, 'heap-growing-percent')) return false;
  bounding = true;
  watchHeapLive();
  return true;
}

/** Bytes in use after the last full collection since watching began; 0 until the first one. */
export function heapLiveBytes(): number {
  return live;
}

/** Whether the growth cap is in force now (a gateway node with a large live heap). */
export function heapGrowthCapped(): boolean {
  return capped;
}
