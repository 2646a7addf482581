// A few routes changed, nothing else: compileSnapshot patches the running snapshot (only those
// routes compiled, router patched in place) and hands on policy instances so that each one is
// closed exactly once, by the snapshot that stops using it. Serial: the tests share the probe's counters.
import test from 'ava';
import pino from 'pino';
import { compileSnapshot, compileStats } from './compile.ts';
import { recordLineage } from '../core/lineage.ts';
import { consumerIndex } from '../policies/auth-common/consumers.ts';
import { policies } from '../policies/registry.ts';
import type { PolicyDefinition, PolicyHandlers } from '../request/policy.ts';
import type { GatewayConfig } from '../schema/model.ts';
import { Metrics } from '../telemetry/metrics.ts';
import { PoolRegistry } from '../upstream/target.ts';

// A policy that only records its instances' lives: the registry's own policies do not say
// when they were closed. Registered for this test file's process only.
const closed: string[] = [];
let made = 0;
const probe: PolicyDefinition = {
  name: 'close-probe', phase: 'request', priority: 0, canDeny: false, schema: {} as never,
  create: (_cfg, deps): PolicyHandlers => { const id = `${deps.routeName}#${++made}`; return { request: () => undefined, close: async () => { closed.push(id); } }; },
};
(policies as Map<string, PolicyDefinition>).set(probe.name, probe);

const route = (path: string, withProbe = true): unknown => ({ match: { paths: [path] }, upstream: 'u', ...(withProbe ? { policies: { 'close-probe': {} } } : {}) });
const deps = { logger: pino({ level: 'silent' }), metrics: new Metrics(), pools: new PoolRegistry(), baseDir: process.cwd(), services: {}, carried: true };

test.serial('a few routes changed: only they are compiled, the router is patched, each instance is closed once by the snapshot that drops it', async (t) => {
  const routes: Record<string, unknown> = { a: route('/a'), b: route('/b'), c: route('/c') };
  for (let i = 0; i < 200; i++) routes[`f${i}`] = route(`/f/${i}`, false);
  const doc1 = { upstreams: { u: { targets: [{ url: 'http://127.0.0.1:9' }] } }, consumers: {}, routes } as unknown as GatewayConfig;
  const s1 = compileSnapshot(doc1, 1, deps);
  t.is(made, 3);

  const { b: _b, ...rest } = doc1.routes!;
  const doc2 = { ...doc1, routes: { ...rest, a: route('/a2'), d: route('/d') } } as GatewayConfig;
  const s2 = compileSnapshot(doc2, 2, { ...deps, previous: s1 });
  t.is(made, 5, 'a and d compiled, nothing else');
  t.is(s2.router, s1.router, 'the router was patched in place');
  t.is(s2.routes.get('c'), s1.routes.get('c'));
  t.is(s2.routes.get('f7'), s1.routes.get('f7'));
  t.false(s2.routes.has('b'));
  t.is(s2.router.size, 203);
  t.is(s2.router.match('h', '/a2', 'GET', {})?.value.name, 'a');
  t.is(s2.router.match('h', '/a', 'GET', {}), undefined);
  t.is(s2.router.match('h', '/b', 'GET', {}), undefined);
  t.is(s2.router.match('h', '/d', 'GET', {})?.value.name, 'd');
  t.is(s2.router.match('h', '/f/7', 'GET', {})?.value.name, 'f7');

  // The retired snapshot closes what only it used: the old a and b, not c.
  await s1.close();
  t.deepEqual(closed.sort(), ['a#1', 'b#2']);
  closed.length = 0;

  // A new upstreams object: not a patch. The routes are rebuilt against the new runtime, but
  // their probe instances (which name no upstream) are taken over, not made again.
  const doc3 = { ...doc2, upstreams: { u: { targets: [{ url: 'http://127.0.0.1:10' }] } } } as GatewayConfig;
  const s3 = compileSnapshot(doc3, 3, { ...deps, previous: s2 });
  t.not(s3.router, s2.router, 'a new table');
  t.is(made, 5);
  await s2.close();
  t.deepEqual(closed, [], 's2 hands every instance on');
  await s3.close();
  t.deepEqual(closed.sort(), ['a#4', 'c#3', 'd#5']);
});

test.serial('a routes record derived from the running one is patched: the route map moves on in place once, a second compile from the same snapshot copies it', (t) => {
  const routes: Record<string, unknown> = {};
  for (let i = 0; i < 300; i++) routes[`g${i}`] = route(`/g/${i}`, false);
  const doc1 = { upstreams: { u: { targets: [{ url: 'http://127.0.0.1:9' }] } }, consumers: {}, routes } as unknown as GatewayConfig;
  const s1 = compileSnapshot(doc1, 1, deps);
  const derived = (edit: Record<string, unknown>, removed: string[]): GatewayConfig => {
    const next: Record<string, unknown> = { ...doc1.routes };
    for (const n of removed) delete next[n];
    Object.assign(next, edit);
    recordLineage(next, { base: doc1.routes!, changed: Object.keys(edit), removed });
    return { ...doc1, routes: next } as GatewayConfig;
  };
  const compiled = compileStats.routesCompiled;
  const s2 = compileSnapshot(derived({ g5: route('/five', false), h: route('/h', false) }, ['g6']), 2, { ...deps, previous: s1 });
  t.is(compileStats.routesCompiled - compiled, 2);
  t.is(s2.routes, s1.routes, 'the running map was edited in place and handed on');
  t.is(s2.routes.size, 300);
  t.false(s2.routes.has('g6'));
  t.is(s2.router.match('h', '/five', 'GET', {})?.value.name, 'g5');
  t.is(s2.router.match('h', '/g/6', 'GET', {}), undefined);
  t.is(s2.router.match('h', '/h', 'GET', {})?.value.name, 'h');
  // Another compile from s1 (a caller that threw s2 away): s1 no longer owns that map or table.
  const s3 = compileSnapshot(derived({ x: route('/x', false) }, []), 3, { ...deps, previous: s1 });
  t.not(s3.routes, s2.routes);
  t.is(s2.routes.size, 300, 's2 is untouched');
  t.is(s3.routes.size, 301);
  t.true(s3.routes.has('g6'), 's3 is s1 plus x');
  t.is(s3.router.match('h', '/g/6', 'GET', {})?.value.name, 'g6');
  t.is(s2.router.match('h', '/x', 'GET', {}), undefined);
});

test.serial('a consumer edit recompiles the authenticating routes only, in place in the table, keeping their other instances', async (t) => {
  const hexOf = (i: number): string => i.toString(16).padStart(64, '0');
  const consumers: Record<string, unknown> = {};
  for (let i = 0; i < 2000; i++) consumers[`c${i}`] = { keys: [`sha256:${hexOf(i)}`] };
  const routes: Record<string, unknown> = {};
  for (let i = 0; i < 40; i++) routes[`auth${i}`] = { match: { paths: [`/auth/${i}`] }, upstream: 'u', policies: { 'key-auth': {}, 'close-probe': {} } };
  for (let i = 0; i < 200; i++) routes[`open${i}`] = route(`/open/${i}`, false);
  const doc1 = { upstreams: { u: { targets: [{ url: 'http://127.0.0.1:9' }] } }, consumers, routes } as unknown as GatewayConfig;
  const s1 = compileSnapshot(doc1, 1, deps);
  const probes = made;
  const next: Record<string, unknown> = { ...consumers, fresh: { keys: [`sha256:${hexOf(99_999)}`] } };
  delete next.c5;
  recordLineage(next, { base: consumers, changed: ['fresh'], removed: ['c5'] });
  const compiled = compileStats.routesCompiled;
  const s2 = compileSnapshot({ ...doc1, consumers: next } as unknown as GatewayConfig, 2, { ...deps, previous: s1 });
  t.is(compileStats.routesCompiled - compiled, 40, 'the 40 authenticating routes, not the 200 others');
  t.is(s2.router, s1.router, 'the same table, values swapped in place');
  t.is(s2.routes.get('open7'), s1.routes.get('open7'));
  t.is(made, probes, 'their close-probe instances are kept, not made again');
  const hit = s2.router.match('h', '/auth/3', 'GET', {});
  t.is(hit?.value, s2.routes.get('auth3'));
  // The new index shares the old key map: only the difference is its own.
  const i1 = consumerIndex(consumers as never);
  const i2 = consumerIndex(next as never);
  t.is(i2.keys.root, i1.keys.root);
  t.is(i2.keys.layer.size, 2);
  t.is(i2.keys.get(hexOf(99_999))?.identity.name, 'fresh');
  t.is(i2.keys.get(hexOf(5)), undefined, 'the removed consumer\'s key is gone');
  t.is(i2.keys.get(hexOf(6))?.identity.name, 'c6');
  t.is(i1.keys.get(hexOf(5))?.identity.name, 'c5', 'the old index is as it was');
  closed.length = 0;
  await s1.close();
  t.deepEqual(closed, [], 'the kept probes moved on: the retired snapshot closes none of them');
});
