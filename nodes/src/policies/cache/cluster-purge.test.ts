import test from 'ava';
import { MemoryHub } from '../../cluster/bus/memory/index.ts';
import { shareCachePurges, type PurgeSource } from './cluster-purge.ts';
import type { PurgeRequest } from './index.ts';

function fakeStore(): PurgeSource & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    onPurge: new Set<(p: PurgeRequest) => void>(),
    purgeKey: (k) => { log.push(`key ${k}`); return 1; },
    purgePrefix: (p, h) => { log.push(`prefix ${p} ${h ?? '*'}`); return 2; },
  };
}

test('a purge made on one node is applied by the others, once, without echoes', async (t) => {
  const hub = new MemoryHub();
  const stores = [fakeStore(), fakeStore(), fakeStore()];
  const stops = stores.map((s, i) => shareCachePurges(hub.bus(`n${i}`), s));
  // What the status route does after purging locally: tell the listeners.
  for (const l of stores[0]!.onPurge) l({ prefix: '/users', host: 'api.example.com' });
  for (const l of stores[1]!.onPurge) l({ key: 'api.example.com/users/1' });
  await hub.settle();
  t.deepEqual(stores[0]!.log, ['key api.example.com/users/1']);
  t.deepEqual(stores[1]!.log, ['prefix /users api.example.com']);
  t.deepEqual(stores[2]!.log, ['prefix /users api.example.com', 'key api.example.com/users/1']);
  t.is(hub.delivered, 4);
  // Junk and a prefix without a leading slash are ignored.
  hub.buses.get('n0')!.publish('cache', new TextEncoder().encode('{"prefix":"users"}'));
  await hub.settle();
  t.is(stores[1]!.log.length, 1);
  for (const s of stops) s();
  t.is(stores[0]!.onPurge.size, 0);
});
