import test from 'ava';
import { getHeapStatistics } from 'node:v8';
import { HeapSettle } from './heap-settle.ts';

const MB = 1024 * 1024;
/** ~`mb` MB of old-generation garbage (arrays this large go straight to the large-object space). */
function garbage(mb: number): number {
  // Held until the last one is made, then unreachable once this returns.
  const held = Array.from({ length: mb }, (_, i) => new Array<number>(MB / 8).fill(i + 0.5));
  return held.length;
}

test('collects once garbage outgrows the live heap, and only then', (t) => {
  const settle = new HeapSettle();
  t.is(garbage(150), 150);
  const before = getHeapStatistics().used_heap_size;
  t.true(before > 150 * MB, `heap in use ${before}`);
  t.true(settle.check(), 'past 64 MB of growth: collected');
  const live = settle.stats.liveBytes;
  t.true(live < before - 100 * MB, `freed: ${live} after ${before}`);
  garbage(20);
  t.false(settle.check(), 'below the threshold: left to V8');
  garbage(100);
  t.true(settle.check(), 'past it again: collected');
  t.is(settle.stats.collections, 2);
  settle.stop();
});
