/**
 * Control plane test harness: one real etcd per test file, and per test an admin API on a
 * free port with its own key prefix, so tests in a file run concurrently without seeing
 * each other's keys.
 */
import type { Etcd3 } from 'etcd3';
import { createStoreClient } from '../../control/src/store/client.ts';
import { ConfigStore, type ConfigStoreOptions } from '../../control/src/store/config-store.ts';
import { createAdminServer, listen } from '../../control/src/admin-api/server.ts';
import { http, type Res } from '../helpers/http.ts';
import type { TestFn } from 'ava';
import { startEtcd, type EtcdServer } from '../helpers/etcd.ts';

export const TOKEN = 'test-admin-token-0123456789';

let seq = 0;

export interface Admin {
  url: string;
  prefix: string;
  store: ConfigStore;
  client: Etcd3;
  /** An authenticated request; a body object is sent as JSON, a string as is. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Res>;
  close(): Promise<void>;
}

export async function startAdmin(etcd: EtcdServer, opts: ConfigStoreOptions & { bodyLimit?: number; prefix?: string } = {}): Promise<Admin> {
  const prefix = opts.prefix ?? `/t${process.pid}-${++seq}`;
  const client = createStoreClient([etcd.endpoint]);
  const store = new ConfigStore(client, prefix, opts);
  const server = createAdminServer({ store, token: TOKEN, ...(opts.bodyLimit ? { bodyLimit: opts.bodyLimit } : {}) });
  const admin = await listen(server, '127.0.0.1', 0);
  return {
    url: admin.url,
    prefix,
    store,
    client,
    call: (method, path, body, headers = {}) => http(admin.url + path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    }),
    close: async () => { await admin.close(); client.close(); },
  };
}

/** Every key under a prefix as parsed JSON (raw text when not JSON), read with etcdctl: what nodes would see. */
/**
 * The admin-API tests' fixture: one etcd for the file (handed to `ready`) and `admin()`,
 * which starts an admin API on a fresh prefix; all of them are closed after the file.
 */
export function adminsPerFile(test: TestFn, ready: (etcd: EtcdServer) => void = () => undefined): (opts?: Parameters<typeof startAdmin>[1]) => Promise<Admin> {
  let etcd: EtcdServer | undefined;
  const admins: Admin[] = [];
  test.before(async () => { etcd = await startEtcd(); ready(etcd); });
  test.after.always(async () => {
    await Promise.all(admins.map((a) => a.close()));
    await etcd?.stop();
  });
  return async (opts = {}) => {
    const a = await startAdmin(etcd!, opts);
    admins.push(a);
    return a;
  };
}

export async function etcdKeys(etcd: EtcdServer, prefix: string): Promise<Record<string, unknown>> {
  const out = await etcd.ctl('get', '--prefix', `${prefix}/`, '-w', 'json');
  const res = JSON.parse(out) as { kvs?: Array<{ key: string; value: string }> };
  const keys: Record<string, unknown> = {};
  for (const kv of res.kvs ?? []) {
    const k = Buffer.from(kv.key, 'base64').toString();
    const v = Buffer.from(kv.value, 'base64').toString();
    try { keys[k] = JSON.parse(v); } catch { keys[k] = v; }
  }
  return keys;
}

/** Config keys only (routes, upstreams, consumers), relative to the prefix. */
export async function configKeys(etcd: EtcdServer, prefix: string): Promise<Record<string, unknown>> {
  const all = await etcdKeys(etcd, prefix);
  return Object.fromEntries(Object.entries(all)
    .filter(([k]) => /^\/(routes|upstreams|consumers)\//.test(k.slice(prefix.length)))
    .map(([k, v]) => [k.slice(prefix.length + 1), v]));
}

export const UPSTREAM = { targets: [{ url: 'http://127.0.0.1:3001' }] };
export const route = (upstream: string, path = '/users') => ({ match: { paths: [path] }, upstream });

export const DOC = {
  upstreams: { users: UPSTREAM, orders: { targets: [{ url: 'http://127.0.0.1:3002', weight: 2 }] } },
  consumers: { alice: { groups: ['premium'] } },
  routes: { 'users-api': route('users'), 'orders-api': route('orders', '/orders') },
};
