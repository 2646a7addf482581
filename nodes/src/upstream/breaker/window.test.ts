import test from 'ava';
import { RollingCounts } from './window.ts';

test('counts calls, failures and slow calls inside the window', (t) => {
  const w = new RollingCounts(1000, 10);
  w.add(0, false, false);
  w.add(50, true, false);
  w.add(99, true, true);
  t.deepEqual([w.total, w.failed, w.slow], [3, 2, 1]);
});

test('buckets roll out of the window one by one', (t) => {
  const w = new RollingCounts(1000, 10); // 100 ms buckets
  w.add(0, true, false);     // bucket 0
  w.add(450, false, false);  // bucket 4
  w.advance(999);            // bucket 9: both still in
  t.is(w.total, 2);
  w.advance(1000);           // bucket 10 reuses slot 0: the first call is gone
  t.deepEqual([w.total, w.failed], [1, 0]);
  w.advance(1450);           // slot 4 reused
  t.is(w.total, 0);
});

test('a gap longer than the window starts afresh', (t) => {
  const w = new RollingCounts(1000, 10);
  for (let i = 0; i < 5; i++) w.add(i * 10, true, true);
  w.add(10_000, false, false);
  t.deepEqual([w.total, w.failed, w.slow], [1, 0, 0]);
});
