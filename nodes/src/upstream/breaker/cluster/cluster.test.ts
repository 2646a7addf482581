import test from 'ava';
import { MemoryHub } from '../../../cluster/bus/memory/index.ts';
import type { Clock } from '../local.ts';
import { CLOSED, HALF_OPEN, OPEN, type BreakerPhase, type BreakerSettings, type BreakerState } from '../types.ts';
import { ClusterBreakerStore, type Liveness } from './index.ts';
import { newer, rendezvous } from './protocol.ts';

/** Timers under the test's control, shared by every node. */
class FakeClock implements Clock {
  t = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  now(): number { return this.t; }
  setTimeout(fn: () => void, ms: number): unknown { const id = this.next++; this.timers.set(id, { at: this.t + ms, fn }); return id; }
  clearTimeout(h: unknown): void { this.timers.delete(h as number); }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!due || e[1].at < due[1].at)) due = e;
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
    }
    this.t = end;
  }
}

const settings: BreakerSettings = Object.freeze({
  failures: 3, windowMs: 10_000, errorRatio: 0, minRequests: 20, slowMs: 0, slowRatio: 0.5, openForMs: 1000, probes: 1, scope: 'cluster',
});
const key = { upstream: 'app', target: 'http://10.0.0.1:80' };

interface Node { id: string; store: ClusterBreakerStore; state: BreakerState; changes: Array<[BreakerPhase, BreakerPhase]>; dead: Set<string> }

function cluster(ids = ['n1', 'n2', 'n3']) {
  const hub = new MemoryHub();
  const clock = new FakeClock();
  const dead = new Set<string>(); // ids the others no longer hear
  const nodes: Node[] = ids.map((id) => {
    const bus = hub.bus(id);
    const live: Liveness = {
      alive: (x) => x === id || (bus.connected && !dead.has(x) && ids.includes(x)),
      peers: () => (bus.connected ? ids.filter((x) => x !== id && !dead.has(x)) : []),
    };
    const store = new ClusterBreakerStore({ bus, peers: live, clock, tickMs: 3_600_000, minStallMs: 5000 });
    const changes: Array<[BreakerPhase, BreakerPhase]> = [];
    const state = store.create(key, settings, (to, from) => changes.push([to, from]));
    return { id, store, state, changes, dead };
  });
  const fail = (n: Node, times = settings.failures) => { for (let i = 0; i < times; i++) n.state.record(n.state.admit(), true, 1); };
  const tickAll = () => { for (const n of nodes) n.store.tick(); };
  return { hub, clock, nodes, dead, fail, tickAll, close: () => { for (const n of nodes) n.store.close(); } };
}

const phases = (ns: Node[]) => ns.map((n) => n.state.phase);
const admitting = (ns: Node[]) => ns.map((n) => n.state.admitting);

test('an open on one node opens the breaker on every node, for the open period left', async (t) => {
  const c = cluster();
  const [n1, n2, n3] = c.nodes;
  c.fail(n1!);
  t.is(n1!.state.phase, OPEN);
  await c.hub.settle();
  t.deepEqual(phases(c.nodes), [OPEN, OPEN, OPEN]);
  t.deepEqual(admitting(c.nodes), [false, false, false]);
  t.is(n2!.state.admit(), -1);
  t.deepEqual(n3!.changes, [[OPEN, CLOSED]], 'the runtime is told (Target.available follows)');
  c.close();
});

test('half-open: only the node that opened it probes; its success closes every node', async (t) => {
  const c = cluster();
  const [n1, n2, n3] = c.nodes;
  c.fail(n2!);
  await c.hub.settle();
  c.clock.advance(1000);
  t.deepEqual(phases(c.nodes), [HALF_OPEN, HALF_OPEN, HALF_OPEN]);
  t.deepEqual(admitting(c.nodes), [false, true, false], 'n2 opened it: n2 probes');
  t.is(n1!.state.admit(), -1);
  t.is(n3!.state.admit(), -1);
  const ticket = n2!.state.admit();
  t.true(ticket >= 0);
  t.is(n2!.state.admit(), -1, 'one probe slot');
  n2!.state.record(ticket, false, 5);
  await c.hub.settle();
  t.deepEqual(phases(c.nodes), [CLOSED, CLOSED, CLOSED]);
  t.deepEqual(admitting(c.nodes), [true, true, true]);
  c.close();
});

test('a failed probe opens every node again, same owner', async (t) => {
  const c = cluster();
  const [n1, , n3] = c.nodes;
  c.fail(n1!);
  await c.hub.settle();
  c.clock.advance(1000);
  n1!.state.record(n1!.state.admit(), true, 5);
  await c.hub.settle();
  t.deepEqual(phases(c.nodes), [OPEN, OPEN, OPEN]);
  c.clock.advance(1000);
  t.deepEqual(admitting(c.nodes), [true, false, false]);
  t.is(n3!.state.admit(), -1);
  c.close();
});

test('the owner dies: exactly one other node (rendezvous of the key) takes over the probes', async (t) => {
  const c = cluster();
  const [n1, n2, n3] = c.nodes;
  c.fail(n1!);
  await c.hub.settle();
  c.hub.buses.get('n1')!.setConnected(false);
  c.dead.add('n1');
  c.clock.advance(1000);
  await c.hub.settle();
  const chosen = rendezvous(`${key.upstream}\n${key.target}`, ['n2', 'n3']);
  t.deepEqual([n2!.state.admitting, n3!.state.admitting], [chosen === 'n2', chosen === 'n3']);
  const prober = chosen === 'n2' ? n2! : n3!;
  prober.state.record(prober.state.admit(), false, 1);
  await c.hub.settle();
  t.deepEqual([n2!.state.phase, n3!.state.phase], [CLOSED, CLOSED]);
  c.close();
});

test('the owner dies while half-open: the tick hands the probes over', async (t) => {
  const c = cluster();
  const [n1, n2, n3] = c.nodes;
  c.fail(n1!);
  await c.hub.settle();
  c.clock.advance(1000);
  t.deepEqual(admitting(c.nodes), [true, false, false]);
  c.dead.add('n1');
  c.tickAll();
  await c.hub.settle();
  const probers = [n2!, n3!].filter((n) => n.state.admitting);
  t.is(probers.length, 1);
  c.close();
});

test('an owner that never sends a verdict (no traffic) is taken over after the stall time', async (t) => {
  const c = cluster();
  const [n1, n2, n3] = c.nodes;
  c.fail(n1!);
  await c.hub.settle();
  c.clock.advance(1000);
  c.tickAll();
  t.deepEqual(admitting(c.nodes), [true, false, false]);
  c.clock.advance(5001);
  c.tickAll();
  await c.hub.settle();
  t.is([n2!, n3!].filter((n) => n.state.admitting).length, 1);
  t.false(n1!.state.admitting, 'the old owner heard the takeover');
  c.close();
});

test('simultaneous opens on two nodes agree on one owner', async (t) => {
  const c = cluster();
  const [n1, n2] = c.nodes;
  c.fail(n1!);
  c.fail(n2!);
  await c.hub.settle();
  c.clock.advance(1000);
  t.deepEqual(admitting(c.nodes), [false, true, false], 'same gen: the higher id (n2) wins everywhere');
  c.close();
});

test('a late open cannot undo a newer close; a state created later starts from what the cluster knows', async (t) => {
  const c = cluster();
  const [n1, n2] = c.nodes;
  c.fail(n1!);
  await c.hub.settle();
  const stale = { k: [key.upstream, key.target], p: OPEN, g: 1, o: 'n1', w: 'n1', r: 1000 };
  c.clock.advance(1000);
  n1!.state.record(n1!.state.admit(), false, 1);
  await c.hub.settle();
  n2!.store.receive(new TextEncoder().encode(JSON.stringify(stale)), 'n1');
  t.is(n2!.state.phase, CLOSED);
  // A reload re-creates the breaker on n2 while the cluster has it open.
  c.fail(n1!);
  await c.hub.settle();
  n2!.state.dispose();
  const again = n2!.store.create(key, settings, () => undefined);
  t.is(again.phase, OPEN);
  t.is(again.admit(), -1);
  t.true(newer(2, 'a', 1, 'z'));
  t.true(newer(1, 'b', 1, 'a'));
  c.close();
});

test('bus down: each node runs its breaker alone (probing itself); on return a peer that missed the open learns it', async (t) => {
  const c = cluster();
  const [n1, , n3] = c.nodes;
  const b3 = c.hub.buses.get('n3')!;
  b3.setConnected(false);
  c.fail(n1!);
  await c.hub.settle();
  t.deepEqual(phases(c.nodes), [OPEN, OPEN, CLOSED], 'n3 missed it');
  b3.setConnected(true);
  // n3's return: the others hear it join (peers.onJoin) and resync; here n1 sees the hello.
  n1!.store['resync']();
  await c.hub.settle();
  t.is(n3!.state.phase, OPEN, 'healed: n3 applied the open');
  // NATS lost on n3 during the open period: it will probe for itself.
  b3.setConnected(false);
  c.clock.advance(1000);
  t.true(n3!.state.admitting);
  c.close();
});
