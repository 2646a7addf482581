import test from 'ava';
import net from 'node:net';
import { once } from 'node:events';
import { unwatchClient, watchClient } from './client-gone.ts';

async function pair(): Promise<{ server: net.Server; inbound: net.Socket; outbound: net.Socket }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const outbound = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [inbound] = await accepted;
  return { server, inbound, outbound };
}

test('every request still watched on a connection is told once when it closes; unwatched ones are not', async (t) => {
  const { server, inbound, outbound } = await pair();
  t.teardown(() => { server.close(); });
  const told: string[] = [];
  const a = { onClientGone: () => told.push('a') };
  const b = { onClientGone: () => told.push('b') };
  const c = { onClientGone: () => told.push('c') };
  watchClient(inbound, a);
  watchClient(inbound, b);
  watchClient(inbound, c);
  unwatchClient(inbound, b); // finished normally
  t.is(inbound.listenerCount('close'), 1, 'one listener per connection, not per request');
  outbound.destroy();
  await once(inbound, 'close');
  t.deepEqual(told, ['a', 'c']);
});

test('a connection already gone: the watcher is told right away (asynchronously)', async (t) => {
  const { server, inbound, outbound } = await pair();
  t.teardown(() => { server.close(); });
  outbound.destroy();
  inbound.destroy();
  let told = 0;
  watchClient(inbound, { onClientGone: () => { told++; } });
  t.is(told, 0);
  await Promise.resolve();
  t.is(told, 1);
  watchClient(null, { onClientGone: () => { told++; } });
  await Promise.resolve();
  t.is(told, 2);
});
