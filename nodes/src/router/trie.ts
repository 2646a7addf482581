/**
 * The segment trie that holds one host bucket's param and prefix paths (literal paths live in
 * a plain map, see table.ts). Each node has static children, at most one ':param' child and
 * two lists of routes ending there. Static children are keyed by a hash of the segment text
 * rather than the text itself: the matcher computes the hash while it scans for the next '/',
 * so it can look a child up without slicing the request path into a new string. A hash hit is
 * always confirmed against the child's literal text, and equal hashes chain.
 */
import type { PathPattern } from './spec.ts';

/** Kept inside V8's small-integer range so Map keys and hash arithmetic never box. */
const HASH_MASK = 0x3fffffff;
/** Larger than any rank; a small integer too, for the same reason. */
export const NO_RANK = 0x3fffffff;

/** One step of the segment hash; shared by compile and match so the two can never disagree. */
export function hashStep(h: number, charCode: number): number {
  return (Math.imul(h, 31) + charCode) & HASH_MASK;
}

export function hashString(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = hashStep(h, s.charCodeAt(i));
  return h;
}

/**
 * One (route, path) as the matcher sees it. The route's conditions and value are copied in
 * rather than referenced, so accepting a candidate touches one object, not two: on a large
 * table each extra object is a likely cache miss.
 */
export interface Terminal<T> {
  rank: number;
  value: T;
  /** undefined = any method. */
  methods: readonly string[] | undefined;
  /** Parallel arrays, undefined when there are no header conditions. */
  headerNames: readonly string[] | undefined;
  headerValues: readonly string[] | undefined;
  paramNames: readonly string[];
  /** Ends in '/*', so a match captures the rest of the path. */
  rest: boolean;
  /**
   * The next-best terminal reached by the same path: a linked list, not an array, saves the
   * matcher one object (and on big tables one cache miss) per candidate list.
   */
  next: Terminal<T> | undefined;
}

export class TrieNode<T> {
  /**
   * The text that leads here from the parent: one literal segment, or after compact() several
   * joined by '/'. '' for roots and param nodes. Children are keyed by the hash of its first
   * segment, and a hit is confirmed by comparing the whole literal.
   */
  literal: string;
  /** Next sibling whose first segment has the same hash. */
  collision: TrieNode<T> | undefined = undefined;
  statics: Map<number, TrieNode<T>> | undefined = undefined;
  /** Set by compact() instead of statics when there is exactly one static child. */
  only: TrieNode<T> | undefined = undefined;
  param: TrieNode<T> | undefined = undefined;
  /** Routes whose pattern ends here; they match when the request path ends here too. */
  exact: Terminal<T> | undefined = undefined;
  /** Routes ending in '/*' here; they match when the request path continues with '/'. */
  rest: Terminal<T> | undefined = undefined;
  /** Best (lowest) rank at or below this node, so a search can skip subtrees that cannot win. */
  minRank = NO_RANK;

  constructor(literal: string) {
    this.literal = literal;
  }
}

function soleChild<T>(statics: Map<number, TrieNode<T>> | undefined): TrieNode<T> | undefined {
  if (statics === undefined || statics.size !== 1) return undefined;
  const child = statics.values().next().value;
  return child?.collision === undefined ? child : undefined;
}

/**
 * Shrinks the trie for matching: a run of static nodes where nothing branches or ends (e.g.
 * '/api/v1' above many services) becomes one node whose literal is checked with a single
 * startsWith, and a lone static child skips the hash lookup altogether. Fewer nodes also
 * means fewer cache misses on large tables.
 */
export function compact<T>(node: TrieNode<T>): void {
  if (node.statics !== undefined) {
    for (const head of node.statics.values()) {
      for (let c: TrieNode<T> | undefined = head; c !== undefined; c = c.collision) {
        for (let g = soleChild(c.statics); g !== undefined && c.exact === undefined && c.rest === undefined && c.param === undefined; g = soleChild(c.statics)) {
          c.literal += '/' + g.literal;
          c.statics = g.statics;
          c.param = g.param;
          c.exact = g.exact;
          c.rest = g.rest;
        }
        compact(c);
      }
    }
    const only = soleChild(node.statics);
    if (only !== undefined) {
      node.only = only;
      node.statics = undefined;
    }
  }
  if (node.param !== undefined) compact(node.param);
}

/** Puts `t` into a best-first list at its rank, after any equal rank (a build adds in rank order, so that is the end). */
export function insertSorted<T>(head: Terminal<T> | undefined, t: Terminal<T>): Terminal<T> {
  if (head === undefined || t.rank < head.rank) { t.next = head; return t; }
  let p = head;
  while (p.next !== undefined && p.next.rank <= t.rank) p = p.next;
  t.next = p.next;
  p.next = t;
  return head;
}

function firstSegment(literal: string): string {
  const slash = literal.indexOf('/');
  return slash < 0 ? literal : literal.slice(0, slash);
}

/** The static child whose literal starts with the segment `seg` (children are keyed by the hash of their first segment). */
function findStatic<T>(node: TrieNode<T>, seg: string): TrieNode<T> | undefined {
  if (node.only !== undefined) return firstSegment(node.only.literal) === seg ? node.only : undefined;
  for (let c = node.statics?.get(hashString(seg)); c !== undefined; c = c.collision) if (firstSegment(c.literal) === seg) return c;
  return undefined;
}

/** Into the statics map (compact() picks `only` for a lone child later; a patch undoes that). */
function addStatic<T>(node: TrieNode<T>, child: TrieNode<T>): void {
  if (node.only !== undefined) {
    node.statics = new Map([[hashString(firstSegment(node.only.literal)), node.only]]);
    node.only = undefined;
  }
  const statics = (node.statics ??= new Map());
  const h = hashString(firstSegment(child.literal));
  child.collision = statics.get(h);
  statics.set(h, child);
}

/**
 * Adds one path of one route, at its rank: the terminal goes into its list in rank order, so
 * every list stays best-first (the matcher stops at the first entry that passes its
 * method/header check) whatever order paths arrive in. Works on a growing trie (a build calls
 * compact() on the root once everything is inserted) and on one compact() has shrunk (a
 * patched table): a joined literal that the new path leaves part of the way is split where it
 * does, which matches exactly what insert-then-compact gives, except that a split compact
 * would have joined may stay (matching is the same).
 */
export function insert<T>(root: TrieNode<T>, path: PathPattern, terminal: Terminal<T>): void {
  const segs = path.segments;
  let node = root;
  node.minRank = Math.min(node.minRank, terminal.rank);
  for (let i = 0; i < segs.length;) {
    const seg = segs[i];
    if (seg === undefined) {
      node = (node.param ??= new TrieNode<T>(''));
      i++;
    } else {
      let child = findStatic(node, seg);
      if (child === undefined) {
        child = new TrieNode<T>(seg);
        addStatic(node, child);
        i++;
      } else {
        const parts = child.literal.split('/');
        let k = 1;
        while (k < parts.length && i + k < segs.length && segs[i + k] === parts[k]) k++;
        if (k < parts.length) {
          // Split: the child keeps the first k segments, a new node below it the rest.
          const below = new TrieNode<T>(parts.slice(k).join('/'));
          below.statics = child.statics;
          below.only = child.only;
          below.param = child.param;
          below.exact = child.exact;
          below.rest = child.rest;
          below.minRank = child.minRank;
          child.literal = parts.slice(0, k).join('/');
          child.statics = undefined;
          child.param = undefined;
          child.exact = undefined;
          child.rest = undefined;
          child.only = below;
        }
        i += k;
      }
      node = child;
    }
    node.minRank = Math.min(node.minRank, terminal.rank);
  }
  if (path.rest) node.rest = insertSorted(node.rest, terminal);
  else node.exact = insertSorted(node.exact, terminal);
}
