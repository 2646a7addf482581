/**
 * Status server endpoint (docs/policies/cache.md "Purge"):
 *   POST /cache/purge?key=api.example.com/users/1?page=2   exactly that key (every variant)
 *   POST /cache/purge?prefix=/users[&host=api.example.com] keys whose path starts with /users
 * Answers `{"purged": n}`. Accepted only from a loopback peer and never with an Origin or
 * Sec-Fetch-Site header (a browser's cross-site POST): 403 otherwise. Listeners in store.onPurge hear of each purge (a cluster bus).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson as json, type StatusRoute } from '../../telemetry/status.ts';
import type { CacheStore, PurgeRequest } from './store.ts';

export const PURGE_PATH = '/cache/purge';

export function purgeRoute(store: CacheStore): StatusRoute {
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') return json(res, 405, { error: 'use POST' }, { allow: 'POST' });
    // Whoever reaches the status port may purge, so it is loopback-only, and never from a
    // browser: a web page can POST to 127.0.0.1 (CSRF) but cannot remove Origin / Sec-Fetch-Site.
    if (req.headers.origin !== undefined || req.headers['sec-fetch-site'] !== undefined) return json(res, 403, { error: 'purge is not accepted from browsers' });
    if (!isLoopback(req.socket.remoteAddress)) return json(res, 403, { error: 'purge is accepted from loopback only' });
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

function isLoopback(a: string | undefined): boolean {
  return a !== undefined && (a.startsWith('127.') || a === '::1' || a.startsWith('::ffff:127.'));
}
