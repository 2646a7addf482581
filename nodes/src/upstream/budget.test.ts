import test from 'ava';
import { RetryBudget } from './budget.ts';

test('minConcurrent retries are always allowed', (t) => {
  const b = new RetryBudget(20, 3);
  t.true(b.tryAcquire());
  t.true(b.tryAcquire());
  t.true(b.tryAcquire());
  t.false(b.tryAcquire(), 'no active requests: 20% of 0 adds nothing');
  b.release();
  t.true(b.tryAcquire());
});

test('beyond the minimum, retries in flight stay under percent of active requests', (t) => {
  const b = new RetryBudget(20, 3);
  b.active = 20;
  let granted = 0;
  while (b.tryAcquire()) granted++;
  t.is(granted, 4, '20% of 20');
  b.active = 100;
  while (b.tryAcquire()) granted++;
  t.is(granted, 20, '20% of 100');
});

test('percent 0 and minConcurrent 0 turns retries off', (t) => {
  const b = new RetryBudget(0, 0);
  b.active = 1000;
  t.false(b.tryAcquire());
});

test('release never goes below zero', (t) => {
  const b = new RetryBudget();
  b.release();
  t.is(b.inflight, 0);
});
