import test from 'ava';
import { CONNECT_ERROR, RESET, TIMEOUT, RetryPolicy, failureKind } from './retry.ts';

test('transport failures are classified; others are not retryable kinds', (t) => {
  t.is(failureKind(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), CONNECT_ERROR);
  t.is(failureKind({ code: 'UND_ERR_CONNECT_TIMEOUT' }), CONNECT_ERROR);
  t.is(failureKind({ code: 'UND_ERR_HEADERS_TIMEOUT' }), TIMEOUT);
  t.is(failureKind({ code: 'UND_ERR_SOCKET' }), RESET);
  t.is(failureKind({ code: 'ECONNRESET' }), RESET);
  t.is(failureKind({ code: 'UND_ERR_BODY_TIMEOUT' }), 0, 'after the head: never retried');
  t.is(failureKind({ code: 'HPE_INVALID_CONSTANT' }), 0);
  t.is(failureKind(null), 0);
});

test('defaults: 2 retries of idempotent methods on connect errors and 502/503/504', (t) => {
  const p = new RetryPolicy({}, 'r');
  t.is(p.attempts, 2);
  for (const m of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']) t.true(p.retriesMethod(m), m);
  t.false(p.retriesMethod('POST'));
  t.false(p.retriesMethod('PATCH'));
  t.true(p.retriesFailure(CONNECT_ERROR));
  t.false(p.retriesFailure(TIMEOUT));
  t.false(p.retriesFailure(RESET));
  t.false(p.retriesFailure(0));
  t.deepEqual([500, 502, 503, 504, 429].map((s) => p.retriesStatus(s)), [false, true, true, true, false]);
  t.deepEqual([p.percent, p.minConcurrent, p.perTryMs], [20, 3, 0]);
});

test('on, methods and budget as configured', (t) => {
  const p = new RetryPolicy({ attempts: 3, on: ['timeout', 'reset', 429], methods: ['POST'], budget: { percent: 50, minConcurrent: 1 }, perTryTimeout: '200ms' }, 'r');
  t.true(p.retriesFailure(TIMEOUT));
  t.true(p.retriesFailure(RESET));
  t.false(p.retriesFailure(CONNECT_ERROR));
  t.true(p.retriesStatus(429));
  t.false(p.retriesStatus(503));
  t.true(p.retriesMethod('POST'));
  t.false(p.retriesMethod('GET'));
  t.deepEqual([p.attempts, p.percent, p.minConcurrent, p.perTryMs], [3, 50, 1, 200]);
});

test('full jitter: retry n waits uniformly below min(max, base * 2^n)', (t) => {
  const p = new RetryPolicy({ backoff: { base: '25ms', max: '250ms' } }, 'r');
  t.is(p.delay(0, 0), 0);
  t.is(p.delay(0, 0.999), 24);
  t.is(p.delay(1, 0.999), 49);
  t.is(p.delay(3, 0.999), 199);
  t.is(p.delay(4, 0.999), 249, 'capped by max');
  t.is(p.delay(40, 0.999), 249);
  for (let i = 0; i < 200; i++) { const d = p.delay(2); t.true(d >= 0 && d < 100); }
});

test('semantic errors carry the field path', (t) => {
  t.throws(() => new RetryPolicy({ backoff: { base: '1s', max: '10ms' } }, 'upstreams.u.retries'), { message: 'upstreams.u.retries.backoff: base must not be more than max' });
  t.throws(() => new RetryPolicy({ perTryTimeout: '0s' }, 'upstreams.u.retries'), { message: /perTryTimeout: must be more than 0/ });
});
