// The NATS implementation of the cluster bus against a real nats-server: messages carry the
// sender id and never echo; a killed server is noticed at once, publishes are dropped (not
// queued) while it is away, and the bus reconnects by itself when it returns; a node that
// starts before NATS connects once NATS is there.
import test from 'ava';
import { NatsBus, namespaceOf } from '../../nodes/src/cluster/bus/nats/index.ts';
import { encodeJson, decodeJson } from '../../nodes/src/cluster/bus/types.ts';
import { startNats } from '../helpers/nats.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';
import { captureLogger } from '../helpers/log.ts';

test('publish/subscribe with node ids; kill and restart: drop while down, reconnect, deliver again', async (t) => {
  const nats = await startNats();
  t.teardown(() => nats.stop());
  const { logger, records } = captureLogger('info');
  const ns = namespaceOf('/test/bus');
  t.is(ns, 'test_bus');
  const a = new NatsBus({ servers: [nats.url], id: 'a', namespace: ns, logger });
  const b = new NatsBus({ servers: [nats.url], id: 'b', namespace: ns, logger });
  t.teardown(async () => { await a.close(); await b.close(); });
  const got: string[] = [];
  a.subscribe('x', (data, from) => got.push(`a<-${from}:${String(decodeJson(data))}`));
  b.subscribe('x', (data, from) => got.push(`b<-${from}:${String(decodeJson(data))}`));
  a.start(); b.start();
  t.true(await a.ready(5000));
  t.true(await b.ready(5000));
  // A subscription reaches the server asynchronously: send until b hears a.
  await waitFor(() => { a.publish('x', encodeJson(0)); return got.includes('b<-a:0'); }, { timeout: 3000, interval: 20, message: 'b hears a' });
  got.length = 0;
  t.true(a.publish('x', encodeJson(1)));
  await waitFor(() => got.includes('b<-a:1'), { timeout: 2000, message: 'delivery' });
  t.false(got.some((g) => g.startsWith('a<-')), 'no echo to a');

  const downs: boolean[] = [];
  a.onStatus((up) => downs.push(up));
  await nats.kill('SIGKILL');
  await waitFor(() => !a.connected && !b.connected, { timeout: 3000, message: 'both notice the loss' });
  t.false(a.publish('x', encodeJson(2)), 'dropped while down');
  const t0 = performance.now();
  await nats.restart();
  await waitFor(() => a.connected && b.connected, { timeout: 8000, interval: 20, message: 'both reconnect' });
  t.log(`reconnected ${(performance.now() - t0).toFixed(0)} ms after the server was back`);
  t.deepEqual(downs, [false, true]);
  got.length = 0;
  await waitFor(() => { b.publish('x', encodeJson(3)); return got.includes('a<-b:3'); }, { timeout: 3000, interval: 20, message: 'a hears b after the restart' });
  t.false(got.some((g) => g.includes(':2')), 'nothing sent while down arrives later');
  t.true(records.some((r) => r.msg === 'NATS connection lost; reconnecting'));
  t.true(a.reconnects >= 1);
});

test('a node that starts before NATS connects once it is there; close() while trying ends it', async (t) => {
  const port = await freePort();
  const { logger, records } = captureLogger('info');
  const bus = new NatsBus({ servers: [`nats://127.0.0.1:${port}`], id: 'early', namespace: 'early', logger, retryMax: 300 });
  bus.start();
  t.false(await bus.ready(300));
  t.true(records.some((r) => r.msg === 'NATS not reachable; still trying'));
  await bus.close();
  t.false(bus.connected);
  // And with a server that appears later (a new one: it picks its own free port).
  const nats = await startNats();
  t.teardown(() => nats.stop());
  const late = new NatsBus({ servers: [nats.url], id: 'late', namespace: 'early', logger, retryMax: 300 });
  await nats.kill('SIGKILL');
  late.start();
  t.false(await late.ready(400));
  await nats.restart();
  t.true(await late.ready(5000));
  await late.close();
});
