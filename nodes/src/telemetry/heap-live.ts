/**
 * Heap in use just after the last full (mark-compact) collection: what the process retains.
 * `gatehouse_nodejs_heap_size_used_bytes` also counts garbage V8 has not collected yet, and V8
 * lets the old generation grow to a multiple of its live size before it collects, so a node
 * that allocates large short-lived objects (a new route table per config edit) shows a rising
 * heap and RSS between full collections without retaining anything. This gauge tells the two
 * apart: it only rises when something is kept.
 *
 * One observer per process. GC entries reach it on a later turn of the
 * event loop, so the reading includes what was allocated in between (little, next to a heap
 * of hundreds of MB).
 */
import { PerformanceObserver, constants, type PerformanceObserverEntryList } from 'node:perf_hooks';
import v8 from 'node:v8';

let live = 0;
let started = false;

function onEntries(list: PerformanceObserverEntryList): void {
  for (const e of list.getEntries()) {
    if (((e as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      live = v8.getHeapStatistics().used_heap_size;
      return;
    }
  }
}

/** Starts watching (once per process; an observer holds no handle, so it never keeps the process up). */
export function watchHeapLive(): void {
  if (started) return;
  started = true;
  new PerformanceObserver(onEntries).observe({ entryTypes: ['gc'] });
}

/** Bytes in use after the last full collection since watchHeapLive(); 0 until the first one. */
export function heapLiveBytes(): number {
  return live;
}
