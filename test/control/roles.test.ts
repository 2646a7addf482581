/**
 * Named tokens with roles (gatewayctl serve --tokens-file): 401 for no or unknown tokens,
 * 403 for a viewer's writes and for an admin token's writes outside its name prefix, an
 * audit log line per write naming the token (never the token itself), and the history
 * recording who wrote what, bounded to the last N.
 */
import test from 'ava';
import { Writable } from 'node:stream';
import pino from 'pino';
import { startEtcd, type EtcdServer } from '../helpers/etcd.ts';
import { http } from '../helpers/http.ts';
import { identityChecker, parseTokensFile, tokenDigest } from '../../control/src/admin-api/auth.ts';
import { createAdminServer, listen } from '../../control/src/admin-api/server.ts';
import { ConfigStore } from '../../control/src/store/config-store.ts';
import { createStoreClient } from '../../control/src/store/client.ts';
import { configKeys, UPSTREAM, route } from './harness.ts';

const T = { viewer: 'viewer-token-0123456789abcdef', ops: 'ops-token-0123456789abcdef', team: 'team-a-token-0123456789abcdef', single: 'single-admin-token-0123456789' };
const TOKENS = `# name role digest [prefix=]
dash    viewer ${tokenDigest(T.viewer)}
ops     admin  ${tokenDigest(T.ops)}
team-a  admin  ${tokenDigest(T.team)} prefix=team-a-
`;

let etcd: EtcdServer;
let url: string;
let close: () => Promise<void>;
const prefix = `/roles${process.pid}`;
const logLines: string[] = [];

test.before(async () => {
  etcd = await startEtcd();
  const client = createStoreClient([etcd.endpoint]);
  const store = new ConfigStore(client, prefix, { historyLimit: 3 });
  const logger = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _e, cb) { logLines.push(...chunk.toString().split('\n').filter(Boolean)); cb(); } }));
  const server = createAdminServer({ store, token: T.single, tokens: parseTokensFile(TOKENS), logger });
  const a = await listen(server, '127.0.0.1', 0);
  url = a.url;
  close = async () => { await a.close(); client.close(); };
});
test.after.always(async () => { await close?.(); await etcd?.stop(); });

const call = (token: string | undefined, method: string, path: string, body?: unknown) => http(url + path, {
  method,
  headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
  ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
});

test('tokens file: digests only, every bad line named with what is allowed', (t) => {
  const ids = parseTokensFile(TOKENS, 'tokens');
  t.deepEqual(ids.identities, [{ name: 'dash', role: 'viewer' }, { name: 'ops', role: 'admin' }, { name: 'team-a', role: 'admin', prefix: 'team-a-' }]);
  const err = t.throws(() => parseTokensFile(`a root ${tokenDigest(T.ops)}\nb admin ${T.ops}\nc admin ${tokenDigest(T.ops)} scope=x\nd viewer ${tokenDigest(T.ops)} prefix=x\nops admin ${tokenDigest(T.ops)}\nops admin ${tokenDigest(T.ops)}`, 'tokens'));
  t.deepEqual(err.message.split('\n'), [
    'tokens:1: role must be one of admin, viewer (got "root")',
    'tokens:2: the third field must be the token\'s SHA-256 digest, sha256:<64 hex digits> (gatewayctl token-digest prints it)',
    'tokens:3: unknown option "scope=x" (allowed: prefix=NAME-PREFIX)',
    'tokens:4: prefix= limits writes, so it goes with role admin',
    'tokens:6: name ops is used twice (the audit log must tell tokens apart)',
  ]);
  t.throws(() => parseTokensFile('# nothing\n', 'tokens'), { message: 'tokens: no tokens' });
  const who = identityChecker({ tokens: ids, token: T.single });
  t.deepEqual(who(`Bearer ${T.viewer}`), { name: 'dash', role: 'viewer' });
  t.deepEqual(who(`bearer  ${T.single}`), { name: 'admin', role: 'admin' });
  t.is(who(`Bearer ${T.viewer}x`), undefined);
  t.is(who(tokenDigest(T.viewer)), undefined);
  t.is(who(undefined), undefined);
});

test.serial('401 without a known token on reads and writes, whatever the role would be', async (t) => {
  for (const [method, path] of [['GET', '/v1/config'], ['GET', '/v1/status'], ['POST', '/v1/apply'], ['DELETE', '/v1/routes/x']] as const) {
    for (const tok of [undefined, 'not-a-known-token-0123456789', tokenDigest(T.ops)]) {
      const r = await call(tok, method, path, method === 'POST' ? { routes: {} } : undefined);
      t.is(r.status, 401, `${method} ${path} with ${tok ?? 'no token'}`);
      t.is(r.json().code, 'GW_UNAUTHORIZED');
    }
  }
});

test.serial('viewer reads everything and writes nothing (403, nothing written); admins write; history says who', async (t) => {
  const doc = { upstreams: { users: UPSTREAM }, routes: { 'users-api': route('users') } };
  for (const path of ['/v1/config', '/v1/status', '/v1/history', '/v1/routes']) t.is((await call(T.viewer, 'GET', path)).status, 200, path);
  t.is((await call(T.viewer, 'POST', '/v1/diff', doc)).status, 200);
  t.is((await call(T.viewer, 'POST', '/v1/apply?dryRun=true', doc)).status, 200);
  for (const [method, path, body] of [
    ['POST', '/v1/apply', doc], ['PUT', '/v1/upstreams/users', UPSTREAM], ['DELETE', '/v1/routes/users-api', undefined], ['POST', '/v1/rollback?revision=1', undefined],
  ] as const) {
    const r = await call(T.viewer, method, path, body);
    t.is(r.status, 403, `${method} ${path}`);
    t.like(r.json(), { code: 'GW_FORBIDDEN', detail: 'token dash has role viewer: read only' });
  }
  t.deepEqual(await configKeys(etcd, prefix), {});

  const ok = await call(T.ops, 'POST', '/v1/apply', doc);
  t.is(ok.status, 200, ok.body);
  const single = await call(T.single, 'PUT', '/v1/upstreams/orders', UPSTREAM);
  t.is(single.status, 201, single.body);
  const h = (await call(T.viewer, 'GET', '/v1/history')).json();
  t.deepEqual(h.entries.map((e: { who: string; op: string }) => [e.who, e.op]), [['ops', 'apply'], ['admin', 'put upstreams/orders']]);
  t.is(h.entries[0].revision, ok.json().revision);

  // Audit: one line per write with the token's name; no token (nor its digest) anywhere in the log.
  const audit = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit);
  t.true(audit.some((l) => l.who === 'ops' && l.op === 'apply' && l.revision === ok.json().revision));
  t.true(audit.some((l) => l.who === 'admin' && l.op === 'put'));
  t.true(audit.some((l) => l.who === 'dash' && l.denied === true));
  for (const secret of [...Object.values(T), ...Object.values(T).map(tokenDigest)]) t.false(logLines.some((l) => l.includes(secret)), 'a token reached the log');
});

test.serial('an admin token with a prefix writes only routes and upstreams with that prefix', async (t) => {
  const mine = { upstreams: { 'team-a-up': UPSTREAM }, routes: { 'team-a-web': route('team-a-up', '/team-a') } };
  const r = await call(T.team, 'POST', '/v1/apply', mine);
  t.is(r.status, 200, r.body);
  const before = await configKeys(etcd, prefix);
  const outside = await call(T.team, 'POST', '/v1/apply', { routes: { 'team-a-web': route('team-a-up', '/team-a2'), 'users-api': route('users', '/u2') } });
  t.is(outside.status, 403);
  t.regex(outside.json().detail, /token team-a may change only routes and upstreams named team-a-\*, not routes\/users-api$/);
  t.is((await call(T.team, 'PUT', '/v1/consumers/team-a-bob', { groups: [] })).status, 403);
  t.is((await call(T.team, 'DELETE', '/v1/upstreams/users')).status, 403);
  t.deepEqual(await configKeys(etcd, prefix), before);
});

test.serial('history keeps the last N writes (N = 3 here)', async (t) => {
  for (let i = 0; i < 4; i++) t.is((await call(T.ops, 'PUT', '/v1/upstreams/h', { targets: [{ url: `http://127.0.0.1:${3000 + i}` }] })).status < 300, true);
  const h = (await call(T.ops, 'GET', '/v1/history')).json();
  t.is(h.limit, 3);
  t.is(h.entries.length, 3);
  t.deepEqual(h.entries.map((e: { op: string }) => e.op), ['put upstreams/h', 'put upstreams/h', 'put upstreams/h']);
  const revs = h.entries.map((e: { revision: number }) => e.revision);
  t.deepEqual(revs, [...revs].sort((a: number, b: number) => a - b));
});
