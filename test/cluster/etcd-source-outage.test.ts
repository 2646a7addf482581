// When etcd goes away: a crash mid-watch, a node starting while etcd is down, a shared client.
import test from 'ava';
import { EtcdSource } from '../../nodes/src/config/etcd.ts';
import type { ConfigUpdate } from '../../nodes/src/config/source.ts';
import { createEtcdClient } from '../../nodes/src/cluster/etcd-client.ts';
import { Membership, listNodes } from '../../nodes/src/cluster/membership.ts';
import { RegistryWatcher } from '../../nodes/src/discovery/registry.ts';
import { startEtcd } from '../helpers/etcd.ts';
import { captureLogger } from '../helpers/log.ts';
import { waitFor } from '../helpers/wait.ts';

const route = (path: string) => JSON.stringify({ match: { paths: [path] } });
const prefix = '/gh';

test('etcd killed and restarted: the source reconnects and updates resume', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  await etcd.ctl('put', `${prefix}/routes/r1`, route('/r1'));
  const { logger, records } = captureLogger('warn');
  const updates: ConfigUpdate[] = [];
  const src = new EtcdSource({ endpoints: [etcd.endpoint], prefix, logger, retryMax: 400 });
  t.teardown(() => src.stop());
  await src.start((u) => updates.push(u));
  const last = () => updates[updates.length - 1]!;

  await etcd.kill('SIGKILL');
  await waitFor(() => records.some((r) => r.msg === 'etcd watch lost; reloading'), { message: 'watch loss noticed' });
  await etcd.restart();
  const t0 = performance.now();
  await etcd.ctl('put', `${prefix}/routes/r2`, route('/r2'));
  await waitFor(() => last().config.routes!.r2, { timeout: 8000, message: 'update after restart' });
  t.log(`etcd back -> change applied in ${(performance.now() - t0).toFixed(0)} ms`);
  t.deepEqual(Object.keys(last().config.routes!).sort(), ['r1', 'r2']);
  t.true(src.reloads >= 1);
  // The reload that found nothing new did not emit: one update for the load, one for r2.
  t.is(updates.length, 2);
  await etcd.ctl('del', `${prefix}/routes/r1`);
  await waitFor(() => !last().config.routes!.r1, { message: 'watching again' });
});

test('start while etcd is down: bounded start, then catch-up once etcd answers', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  await etcd.ctl('put', `${prefix}/routes/r1`, route('/r1'));
  await etcd.kill();
  const updates: ConfigUpdate[] = [];
  const src = new EtcdSource({ endpoints: [etcd.endpoint], prefix, logger: captureLogger('warn').logger, startTimeout: 800, retryMax: 400 });
  t.teardown(() => src.stop());
  const t0 = performance.now();
  const err = await t.throwsAsync(src.start((u) => updates.push(u)));
  const took = performance.now() - t0;
  t.log(`start() rejected after ${took.toFixed(0)} ms: ${err.message}`);
  t.true(took < 3000);
  t.regex(err.message, /did not answer within 800 ms; still retrying/);
  t.is(updates.length, 0);
  t.is(src.revision, 0);

  await etcd.restart();
  const t1 = performance.now();
  await waitFor(() => updates.length === 1, { timeout: 8000, message: 'first load after etcd came up' });
  t.log(`etcd up -> first config in ${(performance.now() - t1).toFixed(0)} ms`);
  t.truthy(updates[0]!.config.routes!.r1);
  t.true(src.revision > 0);
  await etcd.ctl('put', `${prefix}/routes/r2`, route('/r2'));
  await waitFor(() => updates[updates.length - 1]!.config.routes!.r2, { message: 'watch after catch-up' });
});

test('one shared client: source, membership and registry watcher all recover from an etcd restart', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const logger = captureLogger('warn').logger;
  const client = createEtcdClient([etcd.endpoint]);
  t.teardown(() => client.close());
  const updates: ConfigUpdate[] = [];
  const src = new EtcdSource({ endpoints: [etcd.endpoint], client, prefix, logger, retryMax: 400 });
  t.teardown(() => src.stop());
  const member = new Membership({ client, prefix, id: 'n1', address: 'a:1', version: 'v', logger, ttl: 2, retryMax: 400 });
  t.teardown(() => member.stop());
  const lists: string[] = [];
  const reg = new RegistryWatcher({ client, prefix, service: 'users', logger, retryMax: 400, onChange: (l) => lists.push(l.map((i) => i.id).join()) });
  t.teardown(() => reg.stop());
  await Promise.all([src.start((u) => { updates.push(u); member.setRevision(u.revision); }), member.start(), reg.start()]);

  await etcd.kill();
  await etcd.restart();
  await etcd.ctl('put', `${prefix}/routes/r`, route('/r'));
  await etcd.ctl('put', `${prefix}/registry/users/i1`, JSON.stringify({ url: 'http://127.0.0.1:1' }));
  await waitFor(() => updates[updates.length - 1]!.config.routes!.r && lists[lists.length - 1] === 'i1', { timeout: 8000, message: 'source and registry caught up' });
  await waitFor(async () => (await listNodes(client, prefix))[0]?.revision === src.revision, { timeout: 8000, message: 'membership shows the served revision' });
  t.pass();
});
