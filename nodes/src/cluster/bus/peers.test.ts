import test from 'ava';
import { MemoryHub } from './memory/index.ts';
import { ClusterPeers, type MemberSource } from './peers.ts';
import { decodeJson, encodeJson } from './types.ts';

let now = 0;
const clock = () => now;

function members(ids: string[]): MemberSource {
  const set = new Set(ids);
  return { ids: () => set };
}

function three(hub = new MemoryHub()) {
  const ids = ['a', 'b', 'c'];
  const m = members(ids);
  const peers = ids.map((id) => new ClusterPeers({ bus: hub.bus(id), members: m, heartbeatMs: 500, clock }));
  return { hub, peers };
}

test.serial('a hello is answered at once: a (re)connected node knows its peers in one round trip', async (t) => {
  now = 0;
  const { hub, peers } = three();
  peers[1]!.start();
  peers[2]!.start();
  await hub.settle();
  now = 100;
  peers[0]!.start();
  await hub.settle(); // hello → answers
  t.deepEqual(peers[0]!.peers(), ['b', 'c']);
  now = 1000;
  for (const p of peers) p.tick();
  await hub.settle();
  t.deepEqual(peers[0]!.view(), { connected: true, group: 3, total: 3, settled: true });
  for (const p of peers) p.close();
});

test.serial('a silent peer expires after the timeout; members not heard still count in total', async (t) => {
  now = 0;
  const { hub, peers } = three();
  for (const p of peers) p.start();
  await hub.settle();
  hub.buses.get('c')!.setConnected(false); // c hears nothing and sends nothing
  const seen: number[] = [];
  peers[0]!.onChange((v) => seen.push(v.group));
  for (now = 250; now <= 2500; now += 250) {
    peers[0]!.tick(); peers[1]!.tick();
    await hub.settle();
  }
  t.false(peers[0]!.alive('c'));
  t.true(peers[0]!.alive('b'));
  t.true(peers[0]!.alive('a'), 'itself');
  t.deepEqual(peers[0]!.view(), { connected: true, group: 2, total: 3, settled: true });
  t.deepEqual(seen, [3, 2], 'settled (3 heard), then c expired');
  // c's own view: not connected, alone, 3 members.
  t.deepEqual(peers[2]!.view(), { connected: false, group: 1, total: 3, settled: false });
  for (const p of peers) p.close();
});

test.serial('right after a reconnect the view is not settled', async (t) => {
  now = 0;
  const { hub, peers } = three();
  for (const p of peers) p.start();
  await hub.settle();
  const bus = hub.buses.get('a')!;
  bus.setConnected(false);
  t.is(peers[0]!.view().connected, false);
  now = 5000;
  bus.setConnected(true);
  await hub.settle();
  t.is(peers[0]!.view().settled, false);
  t.is(peers[0]!.view().group, 3, 'the hello was answered');
  now = 5800;
  peers[0]!.tick();
  t.is(peers[0]!.view().settled, true);
  for (const p of peers) p.close();
});

test('memory bus: no echo, partitions, JSON helpers', async (t) => {
  const hub = new MemoryHub();
  const a = hub.bus('a');
  const b = hub.bus('b');
  const c = hub.bus('c');
  const got: string[] = [];
  for (const bus of [a, b, c]) bus.subscribe('x', (data, from) => got.push(`${bus.id}<-${from}:${String(decodeJson(data))}`));
  a.publish('x', encodeJson(1));
  await hub.settle();
  t.deepEqual(got.sort(), ['b<-a:1', 'c<-a:1']);
  hub.partition(['a', 'b'], ['c']);
  got.length = 0;
  c.publish('x', encodeJson(2));
  a.publish('x', encodeJson(3));
  await hub.settle();
  t.deepEqual(got, ['b<-a:3']);
  t.is(decodeJson(new TextEncoder().encode('{')), undefined);
});
