/**
 * Open-loop load at a fixed rate (requests per second, whatever the answers take), for tests
 * that measure a rate limit: a closed loop would slow down as the gateway slows down and
 * offer less than asked. Requests are spread evenly (a tick every 5 ms sends what is due);
 * at most `maxInflight` are outstanding, beyond that the request is counted as `skipped`.
 */
import { request, Agent } from 'undici';

export interface PacedCounts {
  sent: number;
  /** By status; 0 = transport error. */
  statuses: Record<number, number>;
  skipped: number;
}

export interface PacedLoad {
  counts(): PacedCounts;
  /** Stop sending and wait for the requests in flight. */
  stop(): Promise<PacedCounts>;
}

export function startPaced(url: string, o: { path: string; rate: number; maxInflight?: number; headers?: Record<string, string> }): PacedLoad {
  const agent = new Agent({ keepAliveTimeout: 2000, connections: 64 });
  const c: PacedCounts = { sent: 0, statuses: {}, skipped: 0 };
  const max = o.maxInflight ?? 128;
  const inflight = new Set<Promise<void>>();
  const start = performance.now();
  let due = 0;
  const one = (): void => {
    c.sent++;
    const p = (async () => {
      let status = 0;
      try {
        const r = await request(url + o.path, { dispatcher: agent, headersTimeout: 5000, bodyTimeout: 5000, ...(o.headers ? { headers: o.headers } : {}) });
        await r.body.dump();
        status = r.statusCode;
      } catch { /* status 0 */ }
      c.statuses[status] = (c.statuses[status] ?? 0) + 1;
    })();
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  const timer = setInterval(() => {
    const target = Math.floor(((performance.now() - start) / 1000) * o.rate);
    while (due < target) {
      due++;
      if (inflight.size >= max) c.skipped++;
      else one();
    }
  }, 5);
  let stopped: Promise<PacedCounts> | undefined;
  return {
    counts: () => ({ ...c, statuses: { ...c.statuses } }),
    stop: () => {
      stopped ??= (async () => {
        clearInterval(timer);
        await Promise.all([...inflight]);
        await agent.close();
        return c;
      })();
      return stopped;
    },
  };
}
