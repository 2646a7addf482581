import test from 'ava';
import v8 from 'node:v8';
import vm from 'node:vm';
import { setImmediate as tick } from 'node:timers/promises';
import { LARGE_HEAP, boundHeapGrowth, growthFor, heapGrowthCapped, heapLiveBytes, setNodeV8Flags, watchHeapLive } from './heap.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

async function fullGc(): Promise<number> {
  gc();
  // The observer hears of the collection on a later turn.
  for (let i = 0; i < 5; i++) await tick();
  return heapLiveBytes();
}

test.serial('heap live follows what is retained across full collections, not garbage', async (t) => {
  watchHeapLive();
  const before = await fullGc();
  t.true(before > 0, 'read after a full collection');
  const hold: { kept?: number[][] } = {};
  hold.kept = Array.from({ length: 64 }, () => new Array<number>(65536).fill(1.5)); // ~32 MB of doubles
  const holding = await fullGc();
  t.true(holding - before > 25e6, `retained ${((holding - before) / 1e6).toFixed(1)} MB`);
  // Garbage alone (allocated after the collection) does not move it...
  for (let i = 0; i < 32; i++) new Array<number>(65536).fill(2.5);
  t.is(heapLiveBytes(), holding);
  t.is(hold.kept.length, 64);
  delete hold.kept;
  // ...and what is let go leaves it at the next full collection.
  const after = await fullGc();
  t.true(holding - after > 25e6, `released ${((holding - after) / 1e6).toFixed(1)} MB`);
});

test.serial('growth is capped past the large-heap line and handed back to V8 well below it', (t) => {
  const MB = 1048576;
  t.true(growthFor(LARGE_HEAP + MB, false));
  t.false(growthFor(30 * MB, false), 'a small config keeps V8\'s own growth');
  // Between half the line and the line, the setting stays as it is (no flip at every GC).
  t.true(growthFor(LARGE_HEAP - MB, true));
  t.false(growthFor(LARGE_HEAP - MB, false));
  t.false(growthFor(LARGE_HEAP / 2 - MB, true));
});

test.serial('a node started with --heap-growing-percent keeps it', (t) => {
  t.false(boundHeapGrowth(['--heap-growing-percent=25']));
  t.false(boundHeapGrowth(['--heap_growing_percent', '25']));
});

test.serial('a large live heap turns the cap on at the next full collection, a small one turns it off', async (t) => {
  t.true(boundHeapGrowth(['--max-old-space-size=4096']));
  const hold: { big?: number[][] } = {};
  hold.big = Array.from({ length: 300 }, () => new Array<number>(65536).fill(0.5)); // ~150 MB
  await fullGc();
  t.true(heapLiveBytes() > LARGE_HEAP);
  t.true(heapGrowthCapped());
  t.is(hold.big.length, 300);
  delete hold.big;
  await fullGc();
  t.true(heapLiveBytes() < LARGE_HEAP / 2);
  t.false(heapGrowthCapped());
});

test.serial('a node turns allocation-site pretenuring off unless its command line sets it either way', (t) => {
  t.false(setNodeV8Flags(['--allocation-site-pretenuring']));
  t.false(setNodeV8Flags(['--no-allocation_site_pretenuring']));
  t.true(setNodeV8Flags(['--max-old-space-size=512']));
  t.true(setNodeV8Flags([]));
});
