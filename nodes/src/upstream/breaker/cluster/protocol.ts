/**
 * What nodes tell each other about cluster breakers (topic `breaker`, JSON): one message per
 * transition of one key. Ordering is by a Lamport-style version (gen, origin): every
 * transition a node makes takes gen = the highest it knows + 1 and its own id as origin;
 * a message is applied only when its version is newer, so a late `open` never undoes a
 * newer `closed`, and two nodes that open at the same moment agree on one of them (the
 * higher origin id wins the tie).
 */
import { CLOSED, HALF_OPEN, OPEN, type BreakerPhase } from '../types.ts';

export interface BreakerMessage {
  /** [upstream, target url]: the BreakerKey. */
  k: [string, string];
  /** The phase entered. */
  p: BreakerPhase;
  g: number;
  /** Origin: the node that made this transition (may differ from the sender on a resync). */
  o: string;
  /** Owner: the node that sends the probes when the breaker is half-open. */
  w: string;
  /** When `p` is open: ms of the open period left, as the sender counts. */
  r: number;
  /** 1 = a resync after a (re)connect: a receiver that knows a newer version answers with it. */
  s?: 1;
}

const PHASES = new Set<number>([CLOSED, OPEN, HALF_OPEN]);

export function isBreakerMessage(m: unknown): m is BreakerMessage {
  if (typeof m !== 'object' || m === null) return false;
  const v = m as Record<string, unknown>;
  return Array.isArray(v.k) && v.k.length === 2 && typeof v.k[0] === 'string' && typeof v.k[1] === 'string'
    && typeof v.p === 'number' && PHASES.has(v.p)
    && typeof v.g === 'number' && Number.isSafeInteger(v.g) && v.g >= 0
    && typeof v.o === 'string' && typeof v.w === 'string'
    && typeof v.r === 'number' && Number.isFinite(v.r);
}

/** Is version (g1, o1) newer than (g2, o2)? */
export function newer(g1: number, o1: string, g2: number, o2: string): boolean {
  return g1 > g2 || (g1 === g2 && o1 > o2);
}

/** 32-bit FNV-1a. */
function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Rendezvous (highest random weight) choice of one id for `key`: every node that knows the
 * same ids picks the same one, and removing an id only moves the keys it had.
 */
export function rendezvous(key: string, ids: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const id of ids) {
    const score = fnv(`${key}\n${id}`);
    if (score > bestScore || (score === bestScore && best !== undefined && id > best)) { best = id; bestScore = score; }
  }
  return best;
}
