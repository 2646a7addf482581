import test from 'ava';
import pino from 'pino';
import { Writable } from 'node:stream';
import { breakerSettings, breakerStore } from './settings.ts';
import type { BreakerStore } from './types.ts';

test('defaults: failures 5, 10s window, open 30s, one probe, local', (t) => {
  t.deepEqual({ ...breakerSettings({}, 'cb') }, {
    failures: 5, windowMs: 10_000, errorRatio: 0, minRequests: 20, slowMs: 0, slowRatio: 0.5, openForMs: 30_000, probes: 1, scope: 'local',
  });
});

test('a ratio trigger alone turns the consecutive trigger off', (t) => {
  t.is(breakerSettings({ errorRatio: 0.5 }, 'cb').failures, 0);
  t.is(breakerSettings({ slowCall: { threshold: '2s' } }, 'cb').slowMs, 2000);
});

test('zero durations are refused with the field path', (t) => {
  t.throws(() => breakerSettings({ openFor: '0s' }, 'upstreams.u.circuitBreaker'), { message: 'upstreams.u.circuitBreaker.openFor: must be more than 0' });
  t.throws(() => breakerSettings({ slowCall: { threshold: '0ms' } }, 'cb'), { message: /slowCall.threshold/ });
});

test('scope cluster without a cluster store falls back to local and warns once per logger', (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } }));
  t.is(breakerStore('cluster', {}, logger).scope, 'local');
  t.is(breakerStore('cluster', {}, logger).scope, 'local');
  t.is(lines.length, 1);
  t.regex(lines[0]!, /no cluster breaker store/);
});

test('scope cluster uses services.breakerStore when it is a cluster store', (t) => {
  const cluster: BreakerStore = { scope: 'cluster', create: () => { throw new Error('unused'); } };
  t.is(breakerStore('cluster', { breakerStore: cluster }, undefined), cluster);
  t.not(breakerStore('local', { breakerStore: cluster }, undefined), cluster);
});
