/**
 * Config at scale: a 10,000-route table takes edits (it used to refuse every one
 * with "Maximum call stack size exceeded"), every key-auth route shares one consumer index,
 * a reload reuses the compiled routes it did not change, and edits in a row keep nothing.
 */
import test from 'ava';
import v8 from 'node:v8';
import vm from 'node:vm';
import pino from 'pino';
import { startGateway } from '../helpers/gateway.ts';
import { http } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';
import { scaleConfig, consumerKey, digest, routePath, type ScaleSizes } from '../../bench/scale/generate.ts';
import { ConsumerIndex } from '../../nodes/src/policies/auth-common/consumers.ts';
import type { GatewayConfig } from '../../nodes/src/schema/model.ts';
import { compileSnapshot } from '../../nodes/src/pipeline/compile.ts';
import { parseConfigText } from '../../nodes/src/config/file.ts';
import { validateConfig } from '../../nodes/src/validation/validate.ts';
import { Metrics } from '../../nodes/src/telemetry/metrics.ts';
import { PoolRegistry } from '../../nodes/src/upstream/target.ts';

type Doc = { upstreams: Record<string, unknown>; consumers: Record<string, unknown>; routes: Record<string, unknown> };
const copy = (d: Doc): Doc => ({ upstreams: { ...d.upstreams }, consumers: { ...d.consumers }, routes: { ...d.routes } });

test.serial('10,000 routes: a route added, changed and removed each apply (no stack overflow), and unchanged routes are reused as they were', async (t) => {
  const sizes: ScaleSizes = { routes: 10_000, consumers: 200, upstreams: 100 };
  const doc = scaleConfig(sizes) as Doc;
  const gw = await startGateway(doc as GatewayConfig);
  t.teardown(() => gw.stop());
  t.deepEqual(gw.gw.configErrors, []);
  t.is(gw.gw.snapshot?.routes.size, 10_000);
  // A copy: a patch edits the running route map in place and hands it on (pipeline/compile.ts).
  const before = { ...gw.gw.snapshot!, routes: new Map(gw.gw.snapshot!.routes) };

  let next = copy(doc);
  next.routes.added = { match: { paths: ['/added'] }, upstream: 'u0' };
  gw.push(next);
  t.deepEqual(gw.gw.configErrors, [], 'the 10,001st route is applied');
  t.not(gw.gw.snapshot!.revision, before.revision);
  t.not((await http(`${gw.url}/added`)).status, 404);
  // Identity: every route the edit did not touch is the very object the previous snapshot served.
  const after = gw.gw.snapshot!;
  let same = 0;
  for (const [name, r] of before.routes) if (after.routes.get(name) === r) same++;
  t.is(same, 10_000);

  next = copy(next);
  next.routes.r5 = { match: { paths: ['/moved/r5'] }, upstream: 'u1' };
  gw.push(next);
  t.deepEqual(gw.gw.configErrors, [], 'the next edit applies too');
  t.not(gw.gw.snapshot!.routes.get('r5'), before.routes.get('r5'), 'the changed route is compiled anew');
  t.is(gw.gw.snapshot!.routes.get('r6'), before.routes.get('r6'));
  t.not((await http(`${gw.url}/moved/r5`)).status, 404);
  t.is((await http(`${gw.url}${routePath(5)}`)).status, 404);

  next = copy(next);
  delete next.routes.added;
  gw.push(next);
  t.deepEqual(gw.gw.configErrors, []);
  t.is((await http(`${gw.url}/added`)).status, 404);
  t.is(gw.gw.snapshot!.routes.size, 10_000);
});

test.serial('every key-auth route shares one consumer index; a route edit keeps it, a consumer edit builds one more', async (t) => {
  const sizes: ScaleSizes = { routes: 200, consumers: 2_000, upstreams: 5, authShare: 0.5, validateShare: 0 };
  const doc = scaleConfig(sizes) as Doc;
  const built = ConsumerIndex.built;
  const gw = await startGateway(doc as GatewayConfig);
  t.teardown(() => gw.stop());
  t.deepEqual(gw.gw.configErrors, []);
  t.is(ConsumerIndex.built - built, 1, '100 key-auth routes, one index');
  // r0 carries key-auth + acl + rate-limit; its target refuses, so a passed request is a 502.
  const path = routePath(0);
  t.is((await http(`${gw.url}${path}`, { headers: { 'x-api-key': consumerKey(1234) } })).status, 502);
  t.is((await http(`${gw.url}${path}`, { headers: { 'x-api-key': 'nope' } })).status, 401);

  let next = copy(doc);
  next.routes.extra = { match: { paths: ['/extra'] }, upstream: 'u0', policies: { 'key-auth': {} } };
  gw.push(next);
  t.deepEqual(gw.gw.configErrors, []);
  t.is(ConsumerIndex.built - built, 1, 'unchanged consumers: the same index');

  next = copy(next);
  next.consumers.fresh = { groups: ['all'], keys: [digest('fresh-key')] };
  const auth = gw.gw.snapshot!.routes.get('r0');
  const plain = gw.gw.snapshot!.routes.get('r1');
  gw.push(next);
  t.deepEqual(gw.gw.configErrors, []);
  t.is(ConsumerIndex.built - built, 2);
  t.not(gw.gw.snapshot!.routes.get('r0'), auth, 'an authenticating route sees the new consumers');
  t.is(gw.gw.snapshot!.routes.get('r1'), plain, 'a route without authentication is kept as it was');
  await waitFor(async () => (await http(`${gw.url}${path}`, { headers: { 'x-api-key': 'fresh-key' } })).status === 502, { message: 'new consumer accepted' });
  t.is((await http(`${gw.url}${path}`, { headers: { 'x-api-key': consumerKey(7) } })).status, 502, 'the others still are');

  // Two consumers claiming one key is refused by a Map lookup, and the running config stays.
  next = copy(next);
  next.consumers.thief = { groups: ['all'], keys: [digest(consumerKey(3))] };
  gw.push(next);
  t.regex(gw.gw.configErrors.map((e) => e.message).join('\n'), /same key is also a key of consumer/);
  t.is((await http(`${gw.url}${path}`, { headers: { 'x-api-key': 'fresh-key' } })).status, 502);
});

test.serial('edits in a row leave the heap where it was (compile and reuse keep nothing per edit)', async (t) => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const heap = (): number => { gc(); gc(); return process.memoryUsage().heapUsed; };
  const text = JSON.stringify(scaleConfig({ routes: 2_000, consumers: 5_000, upstreams: 50 }));
  const deps = { logger: pino({ level: 'silent' }), metrics: new Metrics(), pools: new PoolRegistry(), baseDir: process.cwd(), services: {} };
  let snap = compileSnapshot(parseConfigText(text).doc as GatewayConfig, 1, deps);
  let settled = 0;
  for (let i = 0; i < 40; i++) {
    const doc = parseConfigText(text).doc as Doc;
    doc.routes.added = { match: { paths: [`/edit/${i}`] }, upstream: 'u0' };
    doc.consumers[`new${i % 3}`] = { groups: ['all'], keys: [digest(`k${i}`)] };
    t.deepEqual(validateConfig(doc), []);
    const old = snap;
    snap = compileSnapshot(doc as GatewayConfig, i + 2, { ...deps, previous: old });
    await old.close();
    if (i === 9) settled = heap();
  }
  const grown = heap() - settled;
  t.true(grown < 4 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MB over 30 edits`);
});

test.serial('a JSON file edit re-parses, re-checks and recompiles only the route it changed (file source, real gateway)', async (t) => {
  const { mkdtempSync, writeFileSync, renameSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { Writable } = await import('node:stream');
  const { Gateway } = await import('../../nodes/src/gateway.ts');
  const { FileSource } = await import('../../nodes/src/config/file.ts');
  const { validationStats } = await import('../../nodes/src/validation/validate.ts');
  const { compileStats } = await import('../../nodes/src/pipeline/compile.ts');
  const { freePort } = await import('../helpers/ports.ts');
  const dir = mkdtempSync(join(tmpdir(), 'gh-scale-file-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gateway.json');
  const doc = scaleConfig({ routes: 2_000, consumers: 5_000, upstreams: 50 }) as Doc;
  const write = (d: Doc): void => { writeFileSync(`${file}.tmp`, JSON.stringify(d, null, 1)); renameSync(`${file}.tmp`, file); };
  write(doc);
  const port = await freePort();
  const gw = new Gateway({ node: { listen: `127.0.0.1:${port}`, status: `127.0.0.1:${await freePort()}` }, source: new FileSource(file), logger: pino({ level: 'silent' }), baseDir: dir, accessLogDestination: new Writable({ write(_c, _e, cb) { cb(); } }) });
  await gw.start();
  t.teardown(() => gw.shutdown(2000));
  t.is(gw.snapshot?.routes.size, 2_000);
  const first = gw.snapshot!;
  const r11 = first.routes.get('r11');
  const checked = validationStats.itemsChecked;
  const compiled = compileStats.routesCompiled;
  const next = copy(doc);
  next.routes.r10 = { match: { paths: ['/moved/r10'] }, upstream: 'u1' };
  write(next);
  await waitFor(async () => (await http(`http://127.0.0.1:${port}/moved/r10`)).status !== 404, { message: 'the edit is served' });
  t.is(validationStats.itemsChecked - checked, 1, 'one item checked, not 7,050');
  t.is(compileStats.routesCompiled - compiled, 1, 'one route compiled');
  const now = gw.snapshot!;
  t.is(now.config.consumers, first.config.consumers, 'the consumers collection is the same object');
  t.truthy(r11);
  t.is(now.routes.get('r11'), r11, 'untouched routes are the compiled routes that served before');
});
