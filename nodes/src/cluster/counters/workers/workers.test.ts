import test from 'ava';
import { WorkerCounterStore } from './index.ts';
import type { Channel, DeltaMessage } from './protocol.ts';
import type { Decision, RateRule } from '../store.ts';

const d = (): Decision => ({ allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 0 });

/** N workers whose channels meet in an in-process "primary" that relays to the others. */
let clock = 0;

function node(n: number): { stores: WorkerCounterStore[]; sent: DeltaMessage[] } {
  const subs: Array<(m: unknown) => void> = [];
  const sent: DeltaMessage[] = [];
  const stores: WorkerCounterStore[] = [];
  for (let i = 0; i < n; i++) {
    const ch: Channel = {
      send: (m) => {
        sent.push(m);
        const copy = JSON.parse(JSON.stringify(m)); // what IPC does to it
        subs.forEach((fn, j) => { if (j !== i) fn(copy); });
      },
      onMessage: (fn) => { subs[i] = fn; return () => { subs[i] = () => undefined; }; },
    };
    stores.push(new WorkerCounterStore({ channel: ch, flushInterval: 3_600_000, clock: () => clock }));
  }
  return { stores, sent };
}

const rule: RateRule = { id: 'route\ndefault\n10', interval: 100, burst: 10, maxKeys: 1000 };

test('a peer\'s batch counts against this worker: the node keeps one limit', (t) => {
  const { stores: [a, b] } = node(2);
  const ca = a!.open(rule);
  const cb = b!.open(rule);
  const out = d();
  for (let i = 0; i < 7; i++) t.true(ca.acquire('k', 1, 0, out));
  a!.flush();
  let n = 0;
  for (let i = 0; i < 10; i++) if (cb.acquire('k', 1, 0, out)) n++;
  t.is(n, 3, 'b admits only what a left');
  b!.flush();
  t.false(ca.acquire('k', 1, 0, out), 'and a learns about b');
  a!.close(); b!.close();
});

test('error bound: before a batch arrives, each worker can admit at most its own view', (t) => {
  const { stores: [a, b] } = node(2);
  const ca = a!.open(rule);
  const cb = b!.open(rule);
  const out = d();
  let admitted = 0;
  // Both workers see traffic within one exchange period: each can fill its own view once.
  for (let i = 0; i < 20; i++) if ((i % 2 ? ca : cb).acquire('k', 1, 0, out)) admitted++;
  t.is(admitted, 20, 'worst case within one period: (N-1) × burst over');
  a!.flush(); b!.flush();
  // From then on the node is one limiter again: nothing until enough time refilled both shares.
  t.false(ca.acquire('k', 1, 500, out));
  t.false(cb.acquire('k', 1, 500, out));
  a!.close(); b!.close();
});

test.serial('steady load spread over workers with 50 ms batches stays within the documented bound', (t) => {
  const workers = 4;
  const { stores } = node(workers);
  const counters = stores.map((s) => s.open(rule)); // 10 per second, burst 10
  const out = d();
  let admitted = 0;
  const P = 50;
  const until = 10_000;
  // 200 requests per second (20x the limit), round-robin over the workers, batches every P ms.
  for (let now = 0, i = 0; now < until; now += 5, i++) {
    clock = now;
    if (now % P === 0) for (const s of stores) s.flush();
    if (counters[i % workers]!.acquire('k', 1, now, out)) admitted++;
  }
  const one = 10 + Math.floor(until / 100); // what a single limiter admits
  t.log(`admitted ${admitted}; one limiter: ${one}; per-worker limits would give ${workers * one}`);
  const bound = (workers - 1) * (10 + P / 100 + 1);
  t.true(admitted >= one, `admitted ${admitted} < ${one}`);
  t.true(admitted <= one + bound, `admitted ${admitted} > ${one} + ${bound}`);
  // And far below one limit per worker.
  t.true(admitted < workers * one / 2, `admitted ${admitted}`);
  for (const s of stores) s.close();
  clock = 0;
});

test('refunds travel as negative units; unknown rules and junk are ignored', (t) => {
  const { stores: [a, b], sent } = node(2);
  const ca = a!.open(rule);
  const cb = b!.open(rule);
  const out = d();
  ca.acquire('k', 1, 0, out);
  ca.acquire('k', 1, 0, out);
  ca.refund('k', 1, 0);
  a!.flush();
  t.deepEqual(sent.at(-1)!.rules, [[rule.id, ['k'], [1]]]);
  b!.receive({ type: 'gatehouse:counters', from: 1, rules: [['other', ['k'], [5]], [rule.id, ['k', 7 as unknown as string], [1, 1]], ['x'] as never] }, 0);
  let n = 0;
  for (let i = 0; i < 10; i++) if (cb.acquire('k', 1, 0, out)) n++;
  t.is(n, 8, '1 from a + 1 from the junk batch');
  a!.close(); b!.close();
});
