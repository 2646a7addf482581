/**
 * Weighted choice between upstreams, built once.
 *  - Not sticky: smooth weighted round-robin (nginx's algorithm), so the split is exact
 *    over every sum-of-weights requests (90/10: exactly 90 of every 100), not
 *    just on average, and evenly interleaved.
 *  - Sticky: FNV-1a of the key modulo the weight sum picks the slot, so one client stays
 *    on one upstream while the weights stay the same.
 */
import { fnv1a } from '../../upstream/balancers.ts';

export interface Weighted<T> { value: T; weight: number }

export class SmoothWeighted<T> {
  private readonly items: readonly Weighted<T>[];
  private readonly current: number[];
  private readonly total: number;

  constructor(items: readonly Weighted<T>[]) {
    this.items = items;
    this.current = items.map(() => 0);
    this.total = items.reduce((s, i) => s + i.weight, 0);
  }

  next(): T {
    let best = 0;
    const cur = this.current;
    for (let i = 0; i < cur.length; i++) {
      cur[i]! += this.items[i]!.weight;
      if (cur[i]! > cur[best]!) best = i;
    }
    cur[best]! -= this.total;
    return this.items[best]!.value;
  }
}

export class HashedWeighted<T> {
  private readonly bounds: number[] = [];
  private readonly values: T[] = [];
  private readonly total: number;

  constructor(items: readonly Weighted<T>[]) {
    let acc = 0;
    for (const i of items) {
      if (i.weight <= 0) continue;
      acc += i.weight;
      this.bounds.push(acc);
      this.values.push(i.value);
    }
    this.total = acc;
  }

  pick(key: string): T {
    const slot = fnv1a(key) % this.total;
    let i = 0;
    while (slot >= this.bounds[i]!) i++;
    return this.values[i]!;
  }
}
