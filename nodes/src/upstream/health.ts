/**
 * Active health checks: every `interval`, GET `path` on each target of one upstream runtime.
 * `unhealthyThreshold` consecutive failures (error, timeout or a status outside
 * `expectStatus`) take a target out of rotation; `healthyThreshold` consecutive passes bring
 * it back (Envoy's and nginx's thresholds: one lost probe never flaps a target). Targets start
 * healthy, so a reload or a new discovered instance takes traffic at once.
 *
 * Off the request path: promises and timers are fine here. The runtime starts the checker
 * when a snapshot using it is applied and stops it when no snapshot does (lifecycle.ts).
 */
import type { Upstream } from '../schema/model.ts';
import { parseDuration } from '../schema/duration.ts';
import type { Target } from './target.ts';

export type HealthConfig = NonNullable<Upstream['healthCheck']>;

export interface HealthSettings {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
  /** expect[status] === 1 when the status passes. */
  readonly expect: Uint8Array;
}

/** `[200, '300-399']` → lookup table indexed by status. */
export function parseExpect(list: readonly (number | string)[], where: string): Uint8Array {
  const out = new Uint8Array(600);
  for (const e of list) {
    const [lo, hi] = typeof e === 'number' ? [e, e] : e.split('-').map(Number) as [number, number];
    if (!(lo >= 100 && hi <= 599 && lo <= hi)) throw new Error(`${where}.expectStatus: ${String(e)} is not a status or a range of statuses`);
    out.fill(1, lo, hi + 1);
  }
  return out;
}

export function healthSettings(c: HealthConfig, where: string): HealthSettings {
  const intervalMs = parseDuration(c.interval ?? '5s');
  if (intervalMs < 10) throw new Error(`${where}.interval: must be at least 10ms`);
  const timeoutMs = parseDuration(c.timeout ?? '2s');
  if (timeoutMs <= 0) throw new Error(`${where}.timeout: must be more than 0`);
  return Object.freeze({
    path: c.path,
    intervalMs,
    timeoutMs,
    healthyThreshold: c.healthyThreshold ?? 2,
    unhealthyThreshold: c.unhealthyThreshold ?? 3,
    expect: parseExpect(c.expectStatus ?? ['200-399'], where),
  });
}

/** One check of one target: resolves to the response status, rejects on error or timeout. */
export type Probe = (target: Target, s: HealthSettings, signal: AbortSignal) => Promise<number>;

/** A GET over the target's own keep-alive pool; the body is read and dropped. */
export const httpProbe: Probe = async (t, s, signal) => {
  const res = await t.pool.request({
    path: s.path,
    method: 'GET',
    headers: { host: t.hostHeader, 'user-agent': 'gatehouse-health-check' },
    headersTimeout: s.timeoutMs,
    bodyTimeout: s.timeoutMs,
    signal: AbortSignal.any([signal, AbortSignal.timeout(s.timeoutMs)]),
  });
  await res.body.dump();
  return res.statusCode;
};

interface Track { pass: number; fail: number; busy: boolean }

export class HealthChecker {
  readonly settings: HealthSettings;
  private readonly targets: () => readonly Target[];
  private readonly onChange: (t: Target, healthy: boolean) => void;
  private readonly probe: Probe;
  private readonly track = new Map<Target, Track>();
  private timer: NodeJS.Timeout | undefined = undefined;
  private ctrl: AbortController | undefined = undefined;

  constructor(settings: HealthSettings, targets: () => readonly Target[], onChange: (t: Target, healthy: boolean) => void, probe: Probe = httpProbe) {
    this.settings = settings;
    this.targets = targets;
    this.onChange = onChange;
    this.probe = probe;
  }

  get running(): boolean { return this.timer !== undefined; }

  /** Check at once, then every interval. Idempotent. */
  start(): void {
    if (this.timer) return;
    this.ctrl = new AbortController();
    this.timer = setInterval(() => this.round(), this.settings.intervalMs).unref();
    this.round();
  }

  /** No more rounds; checks in flight are aborted and their results dropped. Idempotent. */
  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.ctrl?.abort();
    this.ctrl = undefined;
  }

  /** Consecutive passes / failures of a target so far (status page). */
  counts(t: Target): { pass: number; fail: number } | undefined {
    const k = this.track.get(t);
    return k && { pass: k.pass, fail: k.fail };
  }

  /** One round: check every target whose previous check has finished (a slow target never piles up checks). */
  round(): void {
    const ctrl = this.ctrl;
    if (!ctrl) return;
    const ts = this.targets();
    if (this.track.size > ts.length) for (const k of this.track.keys()) if (!ts.includes(k)) this.track.delete(k);
    for (const t of ts) {
      let k = this.track.get(t);
      if (!k) { k = { pass: 0, fail: 0, busy: false }; this.track.set(t, k); }
      if (!k.busy) void this.check(t, k, ctrl.signal);
    }
  }

  private async check(t: Target, k: Track, signal: AbortSignal): Promise<void> {
    k.busy = true;
    let ok: boolean;
    try {
      ok = this.settings.expect[await this.probe(t, this.settings, signal)] === 1;
    } catch {
      ok = false; // refused, reset or timed out
    }
    k.busy = false;
    if (!signal.aborted) this.result(t, k, ok);
  }

  /** Apply one check's result to the thresholds. */
  private result(t: Target, k: Track, ok: boolean): void {
    const s = this.settings;
    if (ok) {
      k.fail = 0;
      if (++k.pass >= s.healthyThreshold && !t.healthy) { t.healthy = true; this.onChange(t, true); }
    } else {
      k.pass = 0;
      if (++k.fail >= s.unhealthyThreshold && t.healthy) { t.healthy = false; this.onChange(t, false); }
    }
  }
}
