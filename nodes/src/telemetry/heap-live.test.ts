import test from 'ava';
import v8 from 'node:v8';
import vm from 'node:vm';
import { setImmediate as tick } from 'node:timers/promises';
import { heapLiveBytes, watchHeapLive } from './heap-live.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

async function fullGc(): Promise<number> {
  gc();
  // The observer hears of the collection on a later turn.
  for (let i = 0; i < 5; i++) await tick();
  return heapLiveBytes();
}

test('heap live follows what is retained across full collections, not garbage', async (t) => {
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
