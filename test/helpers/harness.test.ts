// Self-test of the harness: servers start, die, come back with their data, and leave nothing behind.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { startEtcd } from './etcd.ts';
import { startNats } from './nats.ts';
import { freePort, isListening } from './ports.ts';
import { waitFor } from './wait.ts';

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try { process.kill(pid, 0); return true; } catch { return false; }
}

test('freePort gives distinct, bindable ports', async (t) => {
  const a = await freePort();
  const b = await freePort();
  t.not(a, b);
  // Below the kernel's ephemeral range, so no outgoing connection or listen(0) can take one
  // between the choice and the server's bind.
  const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  t.true(a >= 10_000 && a < ephemeralLow && b >= 10_000 && b < ephemeralLow, `${a} ${b}`);
  t.false(await isListening(a));
});

test('waitFor returns the value, and times out with the message and last error', async (t) => {
  let n = 0;
  t.is(await waitFor(() => ++n >= 3 && n, { interval: 1 }), 3);
  const err = await t.throwsAsync(waitFor(() => { throw new Error('still no'); }, { timeout: 50, message: 'the thing' }));
  t.regex(err.message, /the thing not met within 50 ms \(last: still no\)/);
});

test('etcd: start, kill, restart keeps data, stop leaves nothing', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  await etcd.ctl('put', '/k', 'v1');
  const pid = etcd.pid();
  await etcd.kill();
  t.false(alive(pid));
  t.false(await isListening(etcd.clientPort));
  await etcd.restart();
  t.true(await isListening(etcd.clientPort));
  t.is((await etcd.ctl('get', '/k', '--print-value-only')).trim(), 'v1');
  const pid2 = etcd.pid();
  await etcd.stop();
  t.false(alive(pid2));
  t.false(await isListening(etcd.clientPort));
  t.false(await isListening(etcd.peerPort));
  t.false(existsSync(etcd.dataDir));
});

test('nats: start, kill, restart, stop leaves nothing', async (t) => {
  const nats = await startNats();
  t.teardown(() => nats.stop());
  t.true(await isListening(nats.port));
  await nats.kill();
  t.false(await isListening(nats.port));
  await nats.restart();
  t.true(await isListening(nats.port));
  const pid = nats.pid();
  await nats.stop();
  t.false(alive(pid));
  t.false(await isListening(nats.port));
});
