/**
 * Balancers pick a target among the available ones. Each is built once per target list;
 * `pick` does per-request work only.
 * - round-robin: smooth weighted round-robin (nginx's algorithm: even spread, no bursts).
 * - least-request: power of two choices on inflight/weight (Envoy's default for LEAST_REQUEST):
 *   O(1) and avoids the herd a full scan would send to one idle target.
 * - consistent-hash: a ring of virtual nodes (160 per weight unit, as ketama), so adding or
 *   removing a target moves only its share of keys.
 */
import type { Target } from './target.ts';

export interface Balancer { pick(key: string | undefined): Target | undefined }

export class RoundRobin implements Balancer {
  private readonly targets: readonly Target[];
  private readonly current: number[];
  constructor(targets: readonly Target[]) {
    this.targets = targets;
    this.current = targets.map(() => 0);
  }
  pick(): Target | undefined {
    const ts = this.targets;
    if (ts.length === 1) return ts[0]!.available ? ts[0] : undefined;
    let best = -1;
    let total = 0;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      if (!t.available || t.weight === 0) continue;
      this.current[i]! += t.weight;
      total += t.weight;
      if (best < 0 || this.current[i]! > this.current[best]!) best = i;
    }
    if (best < 0) return undefined;
    // nginx's rule: subtract the weight of the targets considered this time (the available ones).
    this.current[best]! -= total;
    return ts[best];
  }
}

export class LeastRequest implements Balancer {
  private readonly targets: readonly Target[];
  constructor(targets: readonly Target[]) { this.targets = targets; }
  pick(): Target | undefined {
    const ts = this.targets;
    const n = ts.length;
    if (n === 0) return undefined;
    let a = ts[(Math.random() * n) | 0]!;
    let b = ts[(Math.random() * n) | 0]!;
    if (!a.available || a.weight === 0) a = b;
    if (!b.available || b.weight === 0) b = a;
    if (!a.available || a.weight === 0) {
      // Both samples unavailable: fall back to a scan so a single healthy target is still found.
      let best: Target | undefined;
      for (const t of ts) if (t.available && t.weight > 0 && (!best || t.inflight / t.weight < best.inflight / best.weight)) best = t;
      return best;
    }
    return a.inflight / a.weight <= b.inflight / b.weight ? a : b;
  }
}

/** 32-bit FNV-1a over UTF-16 code units: cheap, stable across processes and nodes (hash ring, sticky splits). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class ConsistentHash implements Balancer {
  private readonly points: Uint32Array;
  private readonly owners: Target[];
  private readonly fallback: RoundRobin;
  constructor(targets: readonly Target[], vnodes = 160) {
    const entries: Array<[number, Target]> = [];
    for (const t of targets) for (let v = 0; v < vnodes * t.weight; v++) entries.push([fnv1a(`${t.url}#${v}`), t]);
    entries.sort((x, y) => x[0] - y[0]);
    this.points = Uint32Array.from(entries.map((e) => e[0]));
    this.owners = entries.map((e) => e[1]);
    this.fallback = new RoundRobin(targets);
  }
  pick(key: string | undefined): Target | undefined {
    if (key === undefined || this.points.length === 0) return this.fallback.pick();
    const h = fnv1a(key);
    const p = this.points;
    let lo = 0;
    let hi = p.length;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (p[mid]! < h) lo = mid + 1; else hi = mid; }
    // Walk the ring past unavailable targets: their keys move to the next one only.
    for (let i = 0; i < p.length; i++) {
      const t = this.owners[(lo + i) % p.length]!;
      if (t.available) return t;
    }
    return undefined;
  }
}
