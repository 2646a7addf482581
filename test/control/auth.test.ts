import test from 'ava';
import { mkdtempSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, type EtcdServer } from '../helpers/etcd.ts';
import { http } from '../helpers/http.ts';
import { raw, statuses } from '../helpers/http.ts';
import { bearerChecker, loadToken } from '../../control/src/admin-api/auth.ts';
import { createAdminServer } from '../../control/src/admin-api/server.ts';
import { ConfigStore } from '../../control/src/store/config-store.ts';
import { createStoreClient } from '../../control/src/store/client.ts';
import { startAdmin, TOKEN, type Admin } from './harness.ts';

let etcd: EtcdServer;
let admin: Admin;
const dir = mkdtempSync(join(tmpdir(), 'gh-auth-'));

test.before(async () => {
  etcd = await startEtcd();
  admin = await startAdmin(etcd);
});
test.after.always(async () => {
  await admin?.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function problemShape(t: import('ava').ExecutionContext, body: any, code: string, status: number): void {
  t.deepEqual(Object.keys(body).slice(0, 6), ['type', 'title', 'status', 'detail', 'code', 'requestId']);
  t.is(body.code, code);
  t.is(body.status, status);
  t.is(body.type, `https://gatehouse.dev/errors/${code}`);
  t.regex(body.requestId, /^[0-9a-f]{32}$/);
}

test('no Authorization header: 401 problem+json with WWW-Authenticate', async (t) => {
  const r = await http(`${admin.url}/v1/routes`);
  t.is(r.status, 401);
  t.is(r.headers['content-type'], 'application/problem+json');
  t.is(r.headers['www-authenticate'], 'Bearer realm="gatehouse-admin"');
  problemShape(t, r.json(), 'GW_UNAUTHORIZED', 401);
  t.is(r.headers['x-request-id'], r.json().requestId);
});

test('wrong token, wrong scheme, token prefix, token with suffix: all 401', async (t) => {
  for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, TOKEN, 'Bearer', `Bearer ${TOKEN} extra`, '']) {
    const r = await http(`${admin.url}/v1/status`, { headers: { authorization } });
    t.is(r.status, 401, authorization);
    problemShape(t, r.json(), 'GW_UNAUTHORIZED', 401);
  }
});

test('every endpoint needs the token, writes included, and nothing is written without it', async (t) => {
  for (const [method, path] of [['GET', '/v1/config'], ['PUT', '/v1/upstreams/u'], ['DELETE', '/v1/routes/r'], ['POST', '/v1/apply'], ['POST', '/v1/diff'], ['GET', '/v1/nope']]) {
    const r = await http(`${admin.url}${path}`, { method: method!, body: method === 'GET' || method === 'DELETE' ? undefined : JSON.stringify({ upstreams: { u: { targets: [{ url: 'http://x:1' }] } } }), headers: { 'content-type': 'application/json' } });
    t.is(r.status, 401, `${method} ${path}`);
  }
  const s = await admin.store.read();
  t.is(s.items.upstreams.size, 0);
});

test('the right token works; the scheme is case-insensitive (RFC 6750)', async (t) => {
  const a = await http(`${admin.url}/v1/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.is(a.status, 200);
  const b = await http(`${admin.url}/v1/status`, { headers: { authorization: `bearer ${TOKEN}` } });
  t.is(b.status, 200);
});

test('an unauthenticated request is answered without reading its body, and the connection is closed', async (t) => {
  const port = Number(new URL(admin.url).port);
  const out = await raw(port, `POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n${'a'.repeat(1000)}`);
  t.deepEqual(statuses(out), [401]);
  t.regex(out, /connection: close/i);
});

test('bearerChecker: only the exact token passes', (t) => {
  const check = bearerChecker(TOKEN);
  t.true(check(`Bearer ${TOKEN}`));
  t.false(check(undefined));
  t.false(check(`Bearer ${TOKEN.toUpperCase()}`));
  t.throws(() => bearerChecker('short'), { message: /at least 16/ });
});

test('refuses to start without a token, or with one under 16 characters', (t) => {
  t.throws(() => loadToken({ env: {} }), { message: /no admin token: pass --token-file FILE or set GATEHOUSE_ADMIN_TOKEN/ });
  t.throws(() => loadToken({ env: { GATEHOUSE_ADMIN_TOKEN: '   ' } }), { message: /no admin token/ });
  t.throws(() => loadToken({ env: { GATEHOUSE_ADMIN_TOKEN: 'fifteen-chars-x' } }), { message: /too short: at least 16/ });
  t.throws(() => loadToken({ tokenFile: join(dir, 'missing') }), { message: /cannot read token file .*ENOENT/ });
  const client = createStoreClient([etcd.endpoint]);
  t.throws(() => createAdminServer({ store: new ConfigStore(client, '/x'), token: '' }), { message: /at least 16/ });
  client.close();
});

test('token file: first line, trimmed; a file others can read gets a warning', (t) => {
  const f = join(dir, 'token');
  writeFileSync(f, `${TOKEN}\n`);
  chmodSync(f, 0o600);
  const a = loadToken({ tokenFile: f, env: { GATEHOUSE_ADMIN_TOKEN: 'ignored-when-a-file-is-given' } });
  t.is(a.token, TOKEN);
  t.deepEqual(a.warnings, []);
  chmodSync(f, 0o644);
  t.regex(loadToken({ tokenFile: f }).warnings[0] ?? '', /readable by group or others/);
  t.is(loadToken({ env: { GATEHOUSE_ADMIN_TOKEN: ` ${TOKEN}\n` } }).token, TOKEN);
});
