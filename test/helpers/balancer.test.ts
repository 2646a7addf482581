// Self-test of the test balancer: weights, /readyz-driven health, one retry on a refused connection.
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startBalancer } from './balancer.ts';
import { http as request } from './http.ts';
import { waitFor } from './wait.ts';

async function listen(handler: http.RequestListener): Promise<{ port: number; close(): Promise<void> }> {
  const srv = http.createServer(handler);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }),
  };
}

/** A fake node: a proxy port answering its name, a status port whose /readyz the test flips. */
async function fakeNode(name: string) {
  const state = { ready: true };
  const proxy = await listen((_req, res) => res.end(name));
  const status = await listen((_req, res) => { res.writeHead(state.ready ? 200 : 503); res.end(); });
  return { name, state, proxy, status, backend: (weight: number) => ({ name, port: proxy.port, statusPort: status.port, weight }) };
}

test('weights, health from /readyz, and a retry on a refused connection', async (t) => {
  const a = await fakeNode('a');
  const b = await fakeNode('b');
  const lb = await startBalancer([a.backend(3), b.backend(1)], { healthInterval: 20 });
  t.teardown(async () => { await lb.close(); await a.status.close(); await b.status.close(); await b.proxy.close(); });

  const bodies: string[] = [];
  for (let i = 0; i < 40; i++) bodies.push((await request(lb.url)).body);
  t.is(bodies.filter((x) => x === 'a').length, 30, '3:1');
  t.deepEqual(lb.stats().served, { a: 30, b: 10 });

  b.state.ready = false; // draining
  await waitFor(() => !lb.up().b, { message: 'b out of rotation' });
  for (let i = 0; i < 10; i++) t.is((await request(lb.url)).body, 'a');
  b.state.ready = true;
  await waitFor(() => lb.up().b, { message: 'b back' });

  // a's proxy port closes while its /readyz still says 200: refused, retried on b.
  await a.proxy.close();
  lb.resetStats();
  for (let i = 0; i < 10; i++) {
    const r = await request(lb.url);
    t.is(r.status, 200);
    t.is(r.body, 'b');
  }
  t.is(lb.stats().failed, 0);
  t.true(lb.stats().retried >= 1);
});
