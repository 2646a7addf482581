/**
 * Status server endpoint (docs/policies/cache.md "Purge"):
 *   POST /cache/purge?key=api.example.com/users/1?page=2   exactly that key (every variant)
 *   POST /cache/purge?prefix=/users[&host=api.example.com] keys whose path starts with /users
 * Answers `{"purged": n}`. Who may purge is the status port's write gate
 * (telemetry/status-auth.ts): never a browser (Origin / Sec-Fetch-Site: 403), a loopback peer,
 * or any peer with the `node.purgeToken` bearer token. Listeners in store.onPurge hear of each purge (a cluster bus).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson as json, type StatusRoute } from '../../telemetry/status.ts';
import { StatusWriteGate } from '../../telemetry/status-auth.ts';
import type { NodeServices } from '../../request/services.ts';
import type { CacheStore, PurgeRequest } from './store.ts';

export const PURGE_PATH = '/cache/purge';

/** Without a gate from the gateway (unit tests): loopback only, never from browsers. */
const LOOPBACK_ONLY = new StatusWriteGate();

export function purgeRoute(store: CacheStore, services: NodeServices = {}): StatusRoute {
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') return json(res, 405, { error: 'use POST' }, { allow: 'POST' });
    const refused = (services.statusWriteGate ?? LOOPBACK_ONLY).refusal(req);
    if (refused !== undefined) return json(res, refused.status, { error: refused.error }, refused.headers);
    const q = new URL(req.url ?? '/', 'http://status').searchParams;
    const key = q.get('key');
    const prefix = q.get('prefix');
    const host = q.get('host');
    if ((key === null) === (prefix === null)) return json(res, 400, { error: 'give exactly one of key or prefix' });
    if (prefix !== null && !prefix.startsWith('/')) return json(res, 400, { error: 'prefix must start with /' });
    const p: PurgeRequest = key !== null ? { key } : { prefix: prefix!, ...(host !== null ? { host: host.toLowerCase() } : {}) };
    const purged = p.key !== undefined ? store.purgeKey(p.key) : store.purgePrefix(p.prefix!, p.host);
    for (const l of store.onPurge) {
      try { l(p); } catch { /* a listener's failure must not fail the local purge */ }
    }
    json(res, 200, { purged });
  };
}
