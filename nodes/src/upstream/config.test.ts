// The upstream resilience schema: the contract's examples pass, typos and bad values are refused with their path.
import test from 'ava';
import { validateConfig } from '../validation/validate.ts';

const up = (extra: Record<string, unknown>) => ({ upstreams: { users: { targets: [{ url: 'http://127.0.0.1:3001' }], ...extra } } });
const errs = (extra: Record<string, unknown>) => validateConfig(up(extra)).map((e) => `${e.path}: ${e.message}`);

test('the contract examples are valid', (t) => {
  t.deepEqual(errs({
    retries: { attempts: 2, on: ['connect-error', 502, 503, 504] },
    circuitBreaker: { failures: 5, window: '10s', openFor: '30s', scope: 'cluster' },
    healthCheck: { path: '/healthz', interval: '5s' },
  }), []);
});

test('every documented field is accepted', (t) => {
  t.deepEqual(errs({
    retries: { attempts: 3, perTryTimeout: '500ms', backoff: { base: '25ms', max: '250ms' }, on: ['connect-error', 'timeout', 'reset', 502, 503, 504], methods: ['GET', 'POST'], budget: { percent: 20, minConcurrent: 3 } },
    circuitBreaker: { failures: 5, window: '10s', errorRatio: 0.5, minRequests: 20, slowCall: { threshold: '2s', ratio: 0.5 }, openFor: '30s', probes: 2, scope: 'local', fallback: { status: 200, body: '[]', headers: { 'content-type': 'application/json' } } },
    healthCheck: { path: '/healthz', interval: '5s', timeout: '1s', healthyThreshold: 2, unhealthyThreshold: 3, expectStatus: [200, '200-399'] },
  }), []);
});

test('closed objects: an unknown field is an error with its path', (t) => {
  t.deepEqual(errs({ retries: { attempt: 2 } }), ['upstreams.users.retries: unknown field "attempt"']);
  t.deepEqual(errs({ circuitBreaker: { failure: 5 } }), ['upstreams.users.circuitBreaker: unknown field "failure"']);
  t.deepEqual(errs({ healthCheck: { path: '/h', intervall: '5s' } }), ['upstreams.users.healthCheck: unknown field "intervall"']);
});

test('bad values are refused', (t) => {
  t.true(errs({ retries: { on: ['5xx'] } }).some((e) => e.startsWith('upstreams.users.retries.on[0]')));
  t.true(errs({ retries: { on: [200] } }).some((e) => e.startsWith('upstreams.users.retries.on[0]')));
  t.true(errs({ retries: { attempts: -1 } }).some((e) => e.startsWith('upstreams.users.retries.attempts')));
  t.deepEqual(errs({ retries: { perTryTimeout: '5 seconds' } }), ['upstreams.users.retries.perTryTimeout: must be a duration like 250ms, 5s, 1m or 2h']);
  t.true(errs({ circuitBreaker: { errorRatio: 1.5 } }).some((e) => e.startsWith('upstreams.users.circuitBreaker.errorRatio')));
  t.true(errs({ circuitBreaker: { scope: 'global' } }).some((e) => e.startsWith('upstreams.users.circuitBreaker.scope')));
  t.true(errs({ circuitBreaker: { fallback: { body: 'x' } } }).some((e) => e === 'upstreams.users.circuitBreaker.fallback: missing required field "status"'));
  t.deepEqual(errs({ healthCheck: { interval: '5s' } }), ['upstreams.users.healthCheck: missing required field "path"']);
  t.deepEqual(errs({ healthCheck: { path: '/h', expectStatus: ['2xx'] } }), ['upstreams.users.healthCheck.expectStatus[0]: must be a status or a range like 200-399']);
});
