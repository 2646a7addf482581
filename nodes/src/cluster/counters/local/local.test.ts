import test from 'ava';
import { LocalCounterStore } from './index.ts';
import type { Decision, RateRule } from '../store.ts';

const d = (): Decision => ({ allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 0 });
const rule = (id: string, over: Partial<RateRule> = {}): RateRule => ({ id, interval: 100, burst: 2, maxKeys: 100, ...over });

test('the same rule id shares one count (a reload keeps state); another id does not', (t) => {
  const s = new LocalCounterStore();
  const a = s.open(rule('r/1'));
  const b = s.open(rule('r/1'));
  const c = s.open(rule('r/2'));
  const out = d();
  t.true(a.acquire('k', 1, 0, out));
  t.true(b.acquire('k', 1, 0, out));
  t.false(a.acquire('k', 1, 0, out), 'a and b count together');
  t.true(c.acquire('k', 1, 0, out));
  a.close(); b.close(); c.close();
});

test('state goes with the last user of a rule; close is idempotent', (t) => {
  const s = new LocalCounterStore();
  const a = s.open(rule('r/1'));
  const out = d();
  a.acquire('k', 2, 0, out);
  const b = s.open(rule('r/1'));
  a.close(); a.close();
  t.false(b.acquire('k', 1, 0, out), 'b still holds the table');
  b.close();
  t.is(s.table('r/1'), undefined);
  const c = s.open(rule('r/1'));
  t.true(c.acquire('k', 2, 0, out), 'a new table after the last close');
  c.close();
});

test('sweep empties idle keys of every table; size and evictions are reported', (t) => {
  const s = new LocalCounterStore();
  const a = s.open(rule('r/1'));
  const out = d();
  for (let i = 0; i < 10; i++) a.acquire('k' + i, 1, 0, out);
  t.is(a.size, 10);
  s.sweep(50);
  t.is(a.size, 10);
  s.sweep(100);
  t.is(a.size, 0);
  t.deepEqual(a.evictions, { idle: 10, cap: 0 });
  a.close();
});
