import test from 'ava';
import pino from 'pino';
import type { EtcdServer } from '../helpers/etcd.ts';
import { waitFor } from '../helpers/wait.ts';
import { Membership } from '../../nodes/src/cluster/membership.ts';
import { adminsPerFile, UPSTREAM } from './harness.ts';

let etcd: EtcdServer;
const admin = adminsPerFile(test, (e) => { etcd = e; });

test('status lists every node from its leased membership key, with the revision it serves and whether it is behind', async (t) => {
  const a = await admin();
  const empty = (await a.call('GET', '/v1/status')).json();
  t.deepEqual(empty.nodes, []);
  t.is(empty.configRevision, 0);

  const applied = (await a.call('POST', '/v1/apply', { upstreams: { users: UPSTREAM } })).json();
  const rev: number = applied.revision;

  // Node b: the data plane's own membership code, as a running node writes it.
  const member = new Membership({ client: a.client, prefix: a.prefix, id: 'node-b', address: '127.0.0.1:8081', version: '0.1.0', logger: pino({ level: 'silent' }), ttl: 5 });
  await member.start();
  member.setRevision(rev);
  // Node a: a key under a lease, written by hand, serving an older revision.
  const lease = a.client.lease(5);
  await lease.put(`${a.prefix}/nodes/node-a`).value(JSON.stringify({ address: '127.0.0.1:8080', version: '0.1.0', revision: rev - 1, startedAt: '2026-01-01T00:00:00.000Z' }));
  t.teardown(async () => { await member.stop(); await lease.revoke().catch(() => undefined); });

  const s = await waitFor(async () => {
    const b = (await a.call('GET', '/v1/status')).json();
    return b.nodes.length === 2 && b.nodes[1].revision === rev ? b : undefined;
  }, { message: 'both nodes listed' });
  t.is(s.configRevision, rev);
  t.true(s.revision >= rev);
  t.like(s.nodes[0], { id: 'node-a', address: '127.0.0.1:8080', version: '0.1.0', revision: rev - 1, startedAt: '2026-01-01T00:00:00.000Z', behind: true });
  t.like(s.nodes[1], { id: 'node-b', address: '127.0.0.1:8081', version: '0.1.0', revision: rev, behind: false });
  t.is(s.behind, 1);

  // A delete is a config change too: node-b is behind until it reports the new revision.
  const del = (await a.call('DELETE', '/v1/upstreams/users')).json();
  const after = (await a.call('GET', '/v1/status')).json();
  t.is(after.configRevision, del.revision);
  t.true(after.nodes[1].behind);
  member.setRevision(del.revision);
  await waitFor(async () => (await a.call('GET', '/v1/status')).json().nodes[1]?.behind === false, { message: 'node-b caught up' });

  // A node that goes away disappears with its lease; a corrupt entry is not a node.
  await lease.revoke();
  await etcd.ctl('put', `${a.prefix}/nodes/garbage`, 'not json');
  const final = (await a.call('GET', '/v1/status')).json();
  t.deepEqual(final.nodes.map((n: { id: string }) => n.id), ['node-b']);
});
