import test from 'ava';
import { LocalBreaker, type Clock } from './local.ts';
import { breakerSettings } from './settings.ts';
import { CLOSED, HALF_OPEN, OPEN, type BreakerPhase } from './types.ts';

/** A clock the test moves by hand; timers fire when `tick` passes them. */
class FakeClock implements Clock {
  t = 0;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private id = 0;
  now(): number { return this.t; }
  setTimeout(fn: () => void, ms: number): unknown { const id = ++this.id; this.timers.push({ at: this.t + ms, fn, id }); return id; }
  clearTimeout(h: unknown): void { this.timers = this.timers.filter((x) => x.id !== h); }
  tick(ms: number): void {
    this.t += ms;
    for (const x of [...this.timers].sort((a, b) => a.at - b.at)) {
      if (x.at <= this.t) { this.timers = this.timers.filter((y) => y !== x); x.fn(); }
    }
  }
  get pending(): number { return this.timers.length; }
}

function make(cfg: Parameters<typeof breakerSettings>[0]) {
  const clock = new FakeClock();
  const changes: Array<[BreakerPhase, BreakerPhase]> = [];
  const b = new LocalBreaker(breakerSettings(cfg, 'cb'), (to, from) => changes.push([to, from]), clock);
  return { b, clock, changes };
}

test('opens after exactly `failures` consecutive failures; a success in between resets the count', (t) => {
  const { b, changes } = make({ failures: 3, openFor: '1s' });
  b.record(b.admit(), true, 1);
  b.record(b.admit(), true, 1);
  b.record(b.admit(), false, 1);
  b.record(b.admit(), true, 1);
  b.record(b.admit(), true, 1);
  t.is(b.phase, CLOSED);
  b.record(b.admit(), true, 1);
  t.is(b.phase, OPEN);
  t.false(b.admitting);
  t.is(b.admit(), -1, 'an open breaker admits nothing');
  t.deepEqual(changes, [[OPEN, CLOSED]]);
});

test('no trigger configured means failures: 5', (t) => {
  const { b } = make({});
  for (let i = 0; i < 4; i++) b.record(b.admit(), true, 1);
  t.is(b.phase, CLOSED);
  b.record(b.admit(), true, 1);
  t.is(b.phase, OPEN);
});

test('open for openFor, then half-open admits exactly `probes` trial calls', (t) => {
  const { b, clock, changes } = make({ failures: 1, openFor: '1s', probes: 2 });
  b.record(b.admit(), true, 1);
  clock.tick(999);
  t.is(b.phase, OPEN);
  clock.tick(1);
  t.is(b.phase, HALF_OPEN);
  t.true(b.admitting);
  const p1 = b.admit();
  t.true(b.admitting);
  const p2 = b.admit();
  t.true(p1 >= 0 && p2 >= 0);
  t.false(b.admitting, 'every probe slot taken: balancers must skip the target');
  t.is(b.admit(), -1);
  b.record(p1, false, 1);
  t.is(b.phase, HALF_OPEN, 'one success of two is not enough');
  b.record(p2, false, 1);
  t.is(b.phase, CLOSED);
  t.true(b.admitting);
  t.deepEqual(changes.filter(([a, c]) => a !== c), [[OPEN, CLOSED], [HALF_OPEN, OPEN], [CLOSED, HALF_OPEN]]);
});

test('a failed probe opens again for another openFor', (t) => {
  const { b, clock } = make({ failures: 1, openFor: '1s', probes: 2 });
  b.record(b.admit(), true, 1);
  clock.tick(1000);
  const p1 = b.admit();
  const p2 = b.admit();
  b.record(p1, true, 1);
  t.is(b.phase, OPEN);
  b.record(p2, false, 1);
  t.is(b.phase, OPEN, 'the other probe\'s late success does not count');
  clock.tick(1000);
  t.is(b.phase, HALF_OPEN);
});

test('a probe released without a verdict frees its slot', (t) => {
  const { b, clock } = make({ failures: 1, openFor: '1s', probes: 1 });
  b.record(b.admit(), true, 1);
  clock.tick(1000);
  const p = b.admit();
  t.false(b.admitting);
  b.release(p);
  t.true(b.admitting);
  t.true(b.admit() >= 0);
});

test('a call admitted before the breaker opened cannot close it (stale ticket)', (t) => {
  const { b, clock } = make({ failures: 1, openFor: '1s', probes: 1 });
  const slow = b.admit();
  b.record(b.admit(), true, 1);
  clock.tick(1000);
  t.is(b.phase, HALF_OPEN);
  b.record(slow, false, 1);
  t.is(b.phase, HALF_OPEN);
  t.true(b.admitting, 'the probe slot is still free');
});

test('error ratio over the window, only once minRequests calls were seen', (t) => {
  const { b, clock } = make({ errorRatio: 0.5, minRequests: 4, window: '10s' });
  b.record(b.admit(), true, 1);
  b.record(b.admit(), true, 1);
  b.record(b.admit(), false, 1);
  t.is(b.phase, CLOSED, '2 of 3 failed but fewer than minRequests calls');
  clock.tick(100);
  b.record(b.admit(), true, 1);
  t.is(b.phase, OPEN, '3 of 4 failed');
});

test('error ratio forgets calls that left the window', (t) => {
  const { b, clock } = make({ errorRatio: 0.5, minRequests: 4, window: '1s' });
  b.record(b.admit(), true, 1);
  b.record(b.admit(), true, 1);
  b.record(b.admit(), true, 1);
  clock.tick(2000);
  b.record(b.admit(), false, 1);
  b.record(b.admit(), false, 1);
  b.record(b.admit(), false, 1);
  b.record(b.admit(), true, 1);
  t.is(b.phase, CLOSED, '1 of 4 in the window failed');
});

test('slow calls open the breaker at the configured share; a slow probe re-opens', (t) => {
  const { b, clock } = make({ slowCall: { threshold: '2s', ratio: 0.5 }, minRequests: 2, openFor: '1s' });
  b.record(b.admit(), false, 100);
  b.record(b.admit(), false, 2500);
  t.is(b.phase, OPEN, '1 of 2 calls slower than 2s');
  clock.tick(1000);
  b.record(b.admit(), false, 3000);
  t.is(b.phase, OPEN);
});

test('a window reaching minRequests with a success still opens when the ratio is met', (t) => {
  const { b } = make({ slowCall: { threshold: '1s', ratio: 0.5 }, minRequests: 4 });
  b.record(b.admit(), false, 2000);
  b.record(b.admit(), false, 2000);
  b.record(b.admit(), false, 10);
  t.is(b.phase, CLOSED);
  b.record(b.admit(), false, 10);
  t.is(b.phase, OPEN, '2 of 4 slow once the 4th call arrives');
});

test('dispose cancels the open timer and ignores later calls', (t) => {
  const { b, clock } = make({ failures: 1, openFor: '1s' });
  b.record(b.admit(), true, 1);
  t.is(clock.pending, 1);
  b.dispose();
  t.is(clock.pending, 0);
  clock.tick(5000);
  t.is(b.phase, OPEN);
});
