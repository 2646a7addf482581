import test from 'ava';
import { GcraTable } from './gcra.ts';
import type { Decision } from './store.ts';

const d = (): Decision => ({ allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 0 });

test('a burst at one instant: exactly `burst` pass, then Retry-After is one interval', (t) => {
  const g = new GcraTable({ interval: 100, burst: 10, maxKeys: 10 }); // 10 per second
  const out = d();
  let admitted = 0;
  for (let i = 0; i < 25; i++) if (g.acquire('k', 1, 1000, out)) admitted++;
  t.is(admitted, 10);
  t.false(out.allowed);
  t.is(out.remaining, 0);
  t.is(Math.round(out.retryAfterMs), 100);
  t.is(Math.round(out.resetMs), 1000);
  t.true(g.acquire('k', 1, 1100, out), 'one interval later one more passes');
  t.false(g.acquire('k', 1, 1100, out));
});

test('remaining and reset after each admission', (t) => {
  const g = new GcraTable({ interval: 600, burst: 100, maxKeys: 10 }); // 100 per minute
  const out = d();
  t.true(g.acquire('k', 1, 0, out));
  t.is(out.remaining, 99);
  t.is(out.resetMs, 600);
  for (let i = 0; i < 41; i++) g.acquire('k', 1, 0, out);
  t.is(out.remaining, 58);
  t.is(out.resetMs, 42 * 600);
});

test('at twice the rate for ten windows: admitted == burst + refill, exactly', (t) => {
  for (const burst of [1, 5, 10]) {
    const g = new GcraTable({ interval: 100, burst, maxKeys: 10 }); // limit 10 per 1000 ms
    const out = d();
    let admitted = 0;
    const step = 50; // 20 per second: twice the limit
    const until = 10_000;
    for (let now = 0; now < until; now += step) if (g.acquire('k', 1, now, out)) admitted++;
    // Start full (burst), then one per interval over the span actually offered.
    t.is(admitted, burst + Math.floor((until - step) / 100), `burst ${burst}`);
  }
});

test('rounding: 3 per second admits exactly 3 at one instant (T = 333.33…)', (t) => {
  const g = new GcraTable({ interval: 1000 / 3, burst: 3, maxKeys: 10 });
  const out = d();
  let n = 0;
  for (let i = 0; i < 5; i++) if (g.acquire('k', 1, 5, out)) n++;
  t.is(n, 3);
});

test('a cost above burst is always refused and leaves no key behind', (t) => {
  const g = new GcraTable({ interval: 10, burst: 2, maxKeys: 10 });
  const out = d();
  t.false(g.acquire('k', 3, 0, out));
  t.is(g.size, 0);
});

test('refund gives back exactly what acquire took', (t) => {
  const g = new GcraTable({ interval: 100, burst: 2, maxKeys: 10 });
  const out = d();
  t.true(g.acquire('k', 1, 0, out));
  t.true(g.acquire('k', 1, 0, out));
  t.false(g.acquire('k', 1, 0, out));
  g.refund('k', 1, 0);
  t.true(g.acquire('k', 1, 0, out));
  g.refund('k', 2, 0);
  t.is(g.size, 0, 'a refund back to a full quota drops the key');
});

test('advance (a peer\'s use) makes this view stricter', (t) => {
  const g = new GcraTable({ interval: 100, burst: 10, maxKeys: 10 });
  const out = d();
  g.advance('k', 7, 0);
  let n = 0;
  for (let i = 0; i < 10; i++) if (g.acquire('k', 1, 0, out)) n++;
  t.is(n, 3);
  g.advance('k', -2, 0);
  t.true(g.acquire('k', 1, 0, out));
  g.advance('unknown', -1, 0);
  t.is(g.size, 1);
});

test('sweep drops keys whose quota is whole again, and only those', (t) => {
  const g = new GcraTable({ interval: 100, burst: 10, maxKeys: 100 });
  const out = d();
  g.acquire('a', 1, 0, out); // TAT 100
  g.acquire('b', 1, 50, out); // TAT 150
  for (let i = 0; i < 5; i++) g.acquire('c', 1, 60, out); // TAT 560
  t.is(g.sweep(99), 0);
  t.is(g.sweep(150), 2);
  t.is(g.size, 1);
  t.is(g.sweep(560), 1);
  t.is(g.size, 0);
  t.is(g.evictedIdle, 3);
  t.is(g.evictedCap, 0);
});

test('flood of 200k distinct keys: the table never exceeds its cap, a busy key keeps its state', (t) => {
  const cap = 100_000;
  const g = new GcraTable({ interval: 1000, burst: 5, maxKeys: cap }); // 5 per 5 s: keys stay live for the whole flood
  const out = d();
  // The busy key uses its whole burst first.
  for (let i = 0; i < 5; i++) t.true(g.acquire('busy', 1, 0, out));
  let max = 0;
  for (let i = 0; i < 200_000; i++) {
    const now = i / 100; // 200k keys over 2 s
    g.acquire('k' + i, 1, now, out);
    // The busy client keeps trying; it is refused (its state survives), refreshed whenever admitted.
    if (i % 1000 === 0) g.acquire('busy', 1, now, out);
    if (g.size > max) max = g.size;
  }
  t.true(max <= cap, `max ${max}`);
  t.is(g.size, cap);
  t.is(g.evictedCap, 200_000 + 1 - cap);
  // Evicted, it would start over with 5; kept, it has at most what 2 s refilled.
  let again = 0;
  for (let i = 0; i < 5; i++) if (g.acquire('busy', 1, 2000, out)) again++;
  t.true(again <= 1, `busy key admitted ${again} more: its state was evicted`);
});

test('available and resetIn read the quota without changing it', (t) => {
  const g = new GcraTable({ interval: 100, burst: 10, maxKeys: 10 });
  const out = d();
  t.is(g.available('k', 0), 10, 'a key without state has the whole burst');
  t.is(g.resetIn('k', 0), 0);
  for (let i = 0; i < 4; i++) g.acquire('k', 1, 0, out);
  t.is(g.available('k', 0), 6);
  t.is(g.resetIn('k', 0), 400);
  t.is(g.available('k', 250), 8.5, 'refilled by a fraction');
  t.is(g.available('k', 0), 6, 'reading changed nothing');
  t.is(g.available('k', 1000), 10);
});
