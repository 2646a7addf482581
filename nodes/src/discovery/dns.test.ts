// DNS discovery logic with an injected resolver: record handling, TTL-driven refresh, and
// keeping the last good targets when resolution fails. (The real resolver against a real DNS
// server, dnsmasq, is in test/integration/dns-discovery.test.ts.)
import test from 'ava';
import pino from 'pino';
import { DnsDiscovery, resolveTargets, type DnsResolver, type AddressRecord, type SrvRecord } from './dns.ts';
import type { TargetSpec } from '../upstream/upstream.ts';

const logger = pino({ level: 'silent' });
const err = (code: string) => Object.assign(new Error(code), { code });

/** A resolver answering from tables the test changes; missing names fail with ENOTFOUND. */
function fakeResolver() {
  const a = new Map<string, AddressRecord[] | Error>();
  const aaaa = new Map<string, AddressRecord[] | Error>();
  const srv = new Map<string, SrvRecord[] | Error>();
  const calls: string[] = [];
  const answer = <T>(m: Map<string, T[] | Error>, name: string, missing = 'ENOTFOUND'): Promise<T[]> => {
    const v = m.get(name);
    if (v instanceof Error) return Promise.reject(v);
    return v ? Promise.resolve(v) : Promise.reject(err(missing));
  };
  const r: DnsResolver = {
    resolve4: (name) => { calls.push(`A ${name}`); return answer(a, name); },
    resolve6: (name) => { calls.push(`AAAA ${name}`); return answer(aaaa, name, 'ENODATA'); },
    resolveSrv: (name) => { calls.push(`SRV ${name}`); return answer(srv, name); },
  };
  return { r, a, aaaa, srv, calls };
}

test('A and AAAA records become targets on the port, IPv6 in brackets, sorted, smallest TTL', async (t) => {
  const f = fakeResolver();
  f.a.set('users.internal', [{ address: '10.0.0.2', ttl: 30 }, { address: '10.0.0.1', ttl: 5 }]);
  f.aaaa.set('users.internal', [{ address: 'fd00::1', ttl: 60 }]);
  const res = await resolveTargets(f.r, { name: 'users.internal', port: 8080 });
  t.deepEqual(res.targets.map((x) => x.url), ['http://10.0.0.1:8080', 'http://10.0.0.2:8080', 'http://[fd00::1]:8080']);
  t.is(res.ttl, 5);
  const https = await resolveTargets(f.r, { name: 'users.internal', scheme: 'https' });
  t.is(https.targets[0]!.url, 'https://10.0.0.1:443');
  t.is((await resolveTargets(f.r, { name: 'users.internal' })).targets[0]!.url, 'http://10.0.0.1:80');
});

test('only AAAA is fine; neither is an error with the A reason', async (t) => {
  const f = fakeResolver();
  f.a.set('v6.only', err('ENODATA'));
  f.aaaa.set('v6.only', [{ address: '::1', ttl: 9 }]);
  t.deepEqual((await resolveTargets(f.r, { name: 'v6.only', port: 1 })).targets, [{ url: 'http://[::1]:1', weight: 1 }]);
  await t.throwsAsync(resolveTargets(f.r, { name: 'nowhere', port: 1 }), { message: 'ENOTFOUND' });
  f.a.set('empty', []);
  f.aaaa.set('empty', []);
  await t.throwsAsync(resolveTargets(f.r, { name: 'empty', port: 1 }), { message: /no A or AAAA records/ });
});

test('SRV: lowest priority only, weights (0 counts as 1), ports from the records, hosts resolved', async (t) => {
  const f = fakeResolver();
  f.srv.set('_http._tcp.users', [
    { name: 'a.users', port: 8001, priority: 10, weight: 3 },
    { name: 'b.users', port: 8002, priority: 10, weight: 0 },
    { name: 'backup.users', port: 9000, priority: 20, weight: 100 },
    { name: 'byname.users', port: 8003, priority: 10, weight: 5000 },
  ]);
  f.a.set('a.users', [{ address: '10.0.0.1', ttl: 7 }, { address: '10.0.0.11', ttl: 8 }]);
  f.a.set('b.users', [{ address: '10.0.0.2', ttl: 4 }]);
  // byname.users does not resolve through DNS: kept by name (the OS resolver may know it).
  const res = await resolveTargets(f.r, { name: '_http._tcp.users', port: 1234 });
  t.deepEqual(res.targets, [
    { url: 'http://10.0.0.11:8001', weight: 3 },
    { url: 'http://10.0.0.1:8001', weight: 3 },
    { url: 'http://10.0.0.2:8002', weight: 1 },
    { url: 'http://byname.users:8003', weight: 1000 },
  ]);
  t.is(res.ttl, 4);
  t.false(f.calls.includes('A backup.users'), 'higher priority values are not even resolved');
});

/**
 * A started DnsDiscovery on fake timers: `delays` lists every delay it asked for, and
 * `next()` fires the pending timer and waits for that resolution to finish.
 */
async function discovery(t: import('ava').ExecutionContext, r: DnsResolver, name: string, o: Partial<ConstructorParameters<typeof DnsDiscovery>[0]> = {}) {
  const changes: TargetSpec[][] = [];
  const delays: number[] = [];
  let pending: (() => void) | undefined;
  const timers = {
    set: (fn: () => void, ms: number) => { delays.push(ms); pending = fn; return fn; },
    clear: (h: unknown) => { if (h === pending) pending = undefined; },
  };
  const d = new DnsDiscovery({ name, port: 80, resolver: r, logger, onChange: (l) => changes.push(l), timers, ...o });
  t.teardown(() => d.stop());
  d.start();
  await d.firstAttempt();
  const next = async (): Promise<void> => {
    const fn = pending;
    if (!fn) throw new Error('no timer pending');
    pending = undefined;
    const n = delays.length;
    fn();
    for (let i = 0; i < 100 && delays.length === n; i++) await new Promise((res) => setImmediate(res));
  };
  return { d, changes, delays, next, pending: () => pending !== undefined };
}

const urls = (l: readonly TargetSpec[] | undefined) => (l ?? []).map((x) => x.url).join();

test('refreshes after the TTL, clamped to [minTtl, maxTtl], and reports only changes', async (t) => {
  const f = fakeResolver();
  f.a.set('svc', [{ address: '10.0.0.1', ttl: 0 }]);
  const { d, changes, delays, next } = await discovery(t, f.r, 'svc');
  t.is(urls(d.targets), 'http://10.0.0.1:80');
  t.deepEqual(delays, [1000], 'TTL 0 -> the 1 s minimum');
  f.a.set('svc', [{ address: '10.0.0.1', ttl: 5 }]);
  await next();
  t.is(delays.at(-1), 5000, 'TTL 5 s -> 5 s');
  t.is(changes.length, 1, 'an unchanged answer is not reported');
  f.a.set('svc', [{ address: '10.0.0.2', ttl: 3600 }, { address: '10.0.0.1', ttl: 3600 }]);
  await next();
  t.is(delays.at(-1), 60_000, 'TTL 1 h -> the 60 s maximum');
  t.is(changes.length, 2);
  t.is(urls(changes[1]), 'http://10.0.0.1:80,http://10.0.0.2:80');
});

test('failures keep the last good targets and retry with backoff; recovery applies the new answer', async (t) => {
  const f = fakeResolver();
  f.a.set('svc', [{ address: '10.0.0.1', ttl: 30 }]);
  const { d, changes, delays, next } = await discovery(t, f.r, 'svc');
  f.a.set('svc', err('ESERVFAIL'));
  await next();
  await next();
  f.a.set('svc', err('ENOTFOUND')); // NXDOMAIN too: keep
  await next();
  await next();
  await next();
  await next();
  t.is(d.failures, 6);
  t.is(urls(d.targets), 'http://10.0.0.1:80', 'kept');
  t.is(changes.length, 1, 'no empty list was reported');
  t.deepEqual(delays, [30_000, 1000, 2000, 4000, 8000, 16_000, 30_000], 'backoff 1 s doubling to 30 s');
  f.a.set('svc', [{ address: '10.0.0.3', ttl: 10 }]);
  await next();
  t.is(urls(d.targets), 'http://10.0.0.3:80');
  t.is(delays.at(-1), 10_000);
  f.a.set('svc', err('ETIMEOUT'));
  await next();
  t.is(delays.at(-1), 1000, 'the backoff starts again after a success');
});

test('a name that never resolved: first attempt settles, targets stay undefined, stop() ends the loop', async (t) => {
  const f = fakeResolver();
  const { d, changes, pending } = await discovery(t, f.r, 'missing');
  t.is(d.targets, undefined);
  t.is(changes.length, 0);
  t.true(pending());
  d.stop();
  t.false(pending(), 'timer cleared');
});

test('SRV names refresh at least every srvRefresh (their own TTL is not visible)', async (t) => {
  const f = fakeResolver();
  f.srv.set('_http._tcp.s', [{ name: 'h', port: 1, priority: 0, weight: 1 }]);
  f.a.set('h', [{ address: '10.0.0.9', ttl: 3600 }]);
  const { delays } = await discovery(t, f.r, '_http._tcp.s');
  t.deepEqual(delays, [30_000]);
});

test('with the real timers, a short TTL means a real refresh', async (t) => {
  const f = fakeResolver();
  f.a.set('svc', [{ address: '10.0.0.1', ttl: 0 }]);
  const d = new DnsDiscovery({ name: 'svc', port: 80, resolver: f.r, logger, onChange: () => undefined, minTtl: 10 });
  t.teardown(() => d.stop());
  d.start();
  await d.firstAttempt();
  f.a.set('svc', [{ address: '10.0.0.2', ttl: 0 }]);
  const until = Date.now() + 3000;
  while (urls(d.targets) !== 'http://10.0.0.2:80' && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  t.is(urls(d.targets), 'http://10.0.0.2:80');
});
