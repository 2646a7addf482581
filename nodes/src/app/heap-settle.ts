/**
 * Garbage a reload leaves behind, collected. Each edit of a large config retires a route table
 * and, in file mode, the file's text; V8 sizes its old generation from the heap it last found
 * live, and with gigabytes of memory on the host it lets that garbage pile up for hundreds of
 * edits (measured: 100 edits of a 10,000-route config took RSS from 515 MB to 1 GB, all of it
 * garbage: capped at 700 MB the same edits ran at the same pace). So after a reload, once the
 * heap has grown past 1.5 times what the last full collection kept (and by at least 64 MB,
 * so small configs never pay for it), the node runs one full collection itself.
 *
 * The pause is one major GC of the live heap (tens of ms at 10,000 routes and 100,000
 * consumers), taken once per that much growth, never per request. V8 does not expose its
 * collector to scripts without --expose-gc, so the flag is set at runtime and the function
 * taken from a fresh context, as test runners do to measure heap use.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Growth, beyond half the live heap, that small configs never reach. */
const MIN_GROWTH = 64 * 1024 * 1024;
/** After a reload: time for the swap's own follow-up work (snapshot save, discovery) first. */
const DELAY_MS = 100;

type Collect = () => void;

let collector: Collect | undefined | null;
function collect(): Collect | undefined {
  if (collector === undefined) {
    const g = (globalThis as { gc?: Collect }).gc;
    try {
      if (typeof g === 'function') collector = g;
      else {
        setFlagsFromString('--expose-gc');
        collector = runInNewContext('gc') as Collect;
      }
    } catch {
      collector = null;
    }
  }
  return collector ?? undefined;
}

export interface HeapSettleStats { collections: number; lastPauseMs: number; liveBytes: number }

export class HeapSettle {
  /** Heap in use right after this settler's last collection (0: none yet). */
  #live = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly stats: HeapSettleStats = { collections: 0, lastPauseMs: 0, liveBytes: 0 };
  readonly #onCollect: ((s: HeapSettleStats, before: number) => void) | undefined;

  constructor(onCollect?: (s: HeapSettleStats, before: number) => void) {
    this.#onCollect = onCollect;
  }

  /** Call after each applied config; at most one check is pending at a time. */
  afterReload(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => { this.#timer = undefined; this.check(); }, DELAY_MS);
    this.#timer.unref();
  }

  /** The check itself: collect when the heap outgrew the threshold. Returns whether it did. */
  check(): boolean {
    const used = getHeapStatistics().used_heap_size;
    if (used < Math.max(1.5 * this.#live, this.#live + MIN_GROWTH)) return false;
    const gc = collect();
    if (gc === undefined) return false;
    const t0 = performance.now();
    gc();
    this.stats.lastPauseMs = performance.now() - t0;
    this.stats.collections++;
    this.#live = this.stats.liveBytes = getHeapStatistics().used_heap_size;
    this.#onCollect?.(this.stats, used);
    return true;
  }

  stop(): void { clearTimeout(this.#timer); this.#timer = undefined; }
}
