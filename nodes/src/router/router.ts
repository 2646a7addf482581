/**
 * The route table. Routes are bucketed by host (table.ts): a lookup visits the request host's
 * exact bucket, the wildcard buckets its suffixes select, and the any-host bucket. In each it
 * checks the literal-path map, then walks the segment trie (trie.ts) along the branches the
 * path spells. Cost follows the request, not the table size. Every candidate carries a
 * precomputed rank (rank.ts documents the precedence); the lowest-ranked candidate whose
 * method and header conditions pass wins, and subtrees that cannot beat it are skipped.
 *
 * Path views: a route with `caseSensitive: false` or `strictSlash: false` lives in a table of
 * its own whose patterns are folded (spec.ts foldPattern); a lookup searches each table with
 * the request path folded the same way (one string per view in use, none for the default
 * view). Ranks are global, so precedence does not depend on the view; params are sliced from
 * the path as received (folding keeps offsets), so a param keeps its case.
 *
 * Per lookup the only allocations are the result and its params, on success, plus one short
 * string per distinct wildcard suffix length when wildcard hosts exist. Scratch state lives on
 * the instance, which is safe because match() is synchronous and never re-enters.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { compileVariants, updateVariants, variantsOf } from './compile.ts';
import { compareVariants } from './rank.ts';
import type { Variant } from './rank.ts';
import { FOLD_SLASH, foldPath, foldPattern } from './spec.ts';
import type { RouteMatch, RouteSpec } from './spec.ts';
import { HostTable } from './table.ts';
import type { Bucket } from './table.ts';
import { NO_RANK, hashStep } from './trie.ts';
import type { Terminal, TrieNode } from './trie.ts';

const SLASH = 0x2f;
const DOT = 0x2e;
const NO_HEADERS: IncomingHttpHeaders = {};

/** Whether whole segments of path, from start, spell literal (one or more segments). */
function startsLiteral(path: string, start: number, literal: string): boolean {
  const stop = start + literal.length;
  return path.startsWith(literal, start) && (stop === path.length || path.charCodeAt(stop) === SLASH);
}

function accepts<T>(t: Terminal<T>, method: string, headers: IncomingHttpHeaders): boolean {
  const methods = t.methods;
  if (methods !== undefined) {
    let found = false;
    for (let i = 0; i < methods.length; i++) {
      if (methods[i] === method) { found = true; break; }
    }
    if (!found) return false;
  }
  const names = t.headerNames;
  const values = t.headerValues;
  if (names === undefined || values === undefined) return true;
  for (let i = 0; i < names.length; i++) {
    const actual = headers[names[i]!];
    const wanted = values[i]!;
    // Node only hands out arrays for headers it never joins (set-cookie and the like);
    // one matching occurrence is enough there.
    if (actual !== wanted && !(Array.isArray(actual) && actual.includes(wanted))) return false;
  }
  return true;
}

/** One path view: the routes that read paths folded by `fold` (0 = as normalised). */
interface View<T> { readonly fold: number; readonly hosts: HostTable<T> }

/** A removed route's terminals stay in their lists until the next full build, matching nothing. */
const DEAD: readonly string[] = Object.freeze([]);

/** Index of `x` in the ascending `a`, or -1. */
function binaryIndex(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! === x) return mid;
    if (a[mid]! < x) lo = mid + 1; else hi = mid - 1;
  }
  return -1;
}

/** First index whose variant `v` sorts before (compareVariants < 0); the length when none. */
function insertionPoint<T>(variants: readonly Variant<T>[], v: Variant<T>): number {
  let lo = 0;
  let hi = variants.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareVariants(v, variants[mid]!) < 0) hi = mid; else lo = mid + 1;
  }
  return lo;
}

/** First index whose rank is above `rank` in the ascending `ranks`. */
function rankPoint(ranks: readonly number[], rank: number): number {
  let lo = 0;
  let hi = ranks.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rank < ranks[mid]!) hi = mid; else lo = mid + 1;
  }
  return lo;
}

export class Router<T> {
  size: number;
  /** Bumped by every patch: a caller can tell whether this table is still the one it built. */
  generation = 0;
  /** Views in use, the default (fold 0) first; most tables have only that one. */
  readonly #views: readonly View<T>[];

  // Scratch for the lookup in progress.
  /** The path as the current view reads it... */
  #path = '';
  /** ...and as received, which params are sliced from. */
  #received = '';
  /** The current view ignores a trailing slash: a '/*' route also matches its bare prefix. */
  #bareRest = false;
  #method = '';
  #headers: IncomingHttpHeaders = NO_HEADERS;
  #best: Terminal<T> | undefined = undefined;
  #bestRank = NO_RANK;
  /** Where the winner's '*' capture starts, or -1. */
  #bestRest = -1;
  /** [start, end) offsets of the params on the branch being walked... */
  readonly #caps: Int32Array;
  /** ...and a copy of them taken when that branch produced the current winner. */
  readonly #bestCaps: Int32Array;

  /** The ranked variants, kept so the next table can reuse them (updateVariants)... */
  #variants: Variant<T>[];
  /** ...their ranks: spaced out, so a patch can put new variants between two others... */
  #ranks: number[];
  /** ...and the terminal each one became, so a patch can retire it. (All three this table's own: patch() edits them in place.) */
  #terminals: Terminal<T>[];
  /** Retired terminals still in the lists (the variant arrays no longer hold them): past a share of the table, patch() declines. */
  #dead = 0;

  /**
   * `previous`: the table this one replaces. Entries with the same spec object and value as
   * there keep their parsed, ranked variants; only the rest are compiled and merged in.
   */
  constructor(entries: ReadonlyArray<{ spec: RouteSpec; value: T }>, previous?: Router<T>) {
    this.size = entries.length;
    const variants = previous ? updateVariants(entries, previous.#variants) : compileVariants(entries);
    this.#variants = variants;
    // Ranks are spread over the small-integer range, leaving room between neighbours (and
    // before the first one).
    const stride = Math.max(1, 2 ** Math.floor(Math.log2((NO_RANK - 1) / (variants.length + 2))));
    const ranks: number[] = [];
    const terminals: Terminal<T>[] = [];
    const views = new Map<number, HostTable<T>>();
    variants.forEach((v, i) => {
      const fold = v.route.fold;
      let hosts = views.get(fold);
      if (hosts === undefined) views.set(fold, (hosts = new HostTable<T>()));
      const rank = (i + 1) * stride;
      ranks.push(rank);
      terminals.push(hosts.add(fold === 0 ? v : { ...v, path: foldPattern(v.path, fold) }, rank));
    });
    this.#ranks = ranks;
    this.#terminals = terminals;
    if (views.size === 0) views.set(0, new HostTable<T>());
    this.#views = [...views].sort(([a], [b]) => a - b).map(([fold, hosts]) => { hosts.finish(); return { fold, hosts }; });
    // Room for 8 params at least, so a patch adding a param route rarely needs a new table.
    const maxParams = Math.max(8, ...this.#views.map((v) => v.hosts.maxParams));
    this.#caps = new Int32Array(maxParams * 2);
    this.#bestCaps = new Int32Array(maxParams * 2);
  }

  /**
   * Changes this table in place: the routes whose specs are in `removed` leave, `added` come
   * in, at the ranks a full build would give them relative to every other route. Cost follows
   * the change: O(changed variants) in the lists and tries, plus one pass over the variant
   * array. Returns false, changing nothing, when the table cannot take it in place (a path view
   * or more params than it was built for, no room left between two ranks, too many retired
   * terminals); the caller then builds a new table. Whoever patches must own the table: the
   * previous holder sees the new routes too.
   */
  patch(removed: ReadonlySet<RouteSpec>, added: ReadonlyArray<{ spec: RouteSpec; value: T }>): boolean {
    const fresh: Variant<T>[] = [];
    added.forEach(({ spec, value }, i) => { for (const v of variantsOf(spec, value, this.size + i)) fresh.push(v); });
    fresh.sort(compareVariants);
    const caps = this.#caps.length / 2;
    for (const v of fresh) {
      if (v.path.paramNames.length > caps || !this.#views.some((w) => w.fold === v.route.fold)) return false;
    }
    const variants = this.#variants;
    const ranks = this.#ranks;
    // The retiring variants: one pass over the array, nothing allocated per surviving route.
    const out: number[] = [];
    const gone = new Set<RouteSpec>();
    if (removed.size > 0) {
      for (let i = 0; i < variants.length; i++) if (removed.has(variants[i]!.route.spec)) { out.push(i); gone.add(variants[i]!.route.spec); }
    }
    if (this.#dead + out.length > Math.max(256, (variants.length - out.length + fresh.length) / 8)) return false;
    // Each fresh variant's rank: between its surviving neighbours in the sorted array (found by
    // binary search), fresh ones that fall in the same gap spread evenly over it.
    const isOut = (i: number): boolean => out.length > 0 && binaryIndex(out, i) >= 0;
    const freshRanks: number[] = [];
    for (let j = 0; j < fresh.length;) {
      const at = insertionPoint(variants, fresh[j]!);
      let end = j + 1;
      while (end < fresh.length && insertionPoint(variants, fresh[end]!) === at) end++;
      let below = at - 1;
      while (below >= 0 && isOut(below)) below--;
      let above = at;
      while (above < variants.length && isOut(above)) above++;
      const floor = below >= 0 ? ranks[below]! : 0;
      const ceiling = above < variants.length ? ranks[above]! : NO_RANK;
      const step = Math.floor((ceiling - floor) / (end - j + 1));
      if (step < 1) return false;
      for (let k = 1; j < end; j++, k++) freshRanks.push(floor + k * step);
    }

    // Nothing can refuse from here on: change the lists, in place.
    const terminals = this.#terminals;
    for (let n = out.length - 1; n >= 0; n--) {
      const i = out[n]!;
      const t = terminals[i]!;
      t.methods = DEAD;
      (t as { value: T | undefined }).value = undefined; // what it served may be collected
      variants.splice(i, 1);
      ranks.splice(i, 1);
      terminals.splice(i, 1);
    }
    this.#dead += out.length;
    fresh.forEach((v, j) => {
      const rank = freshRanks[j]!;
      const fold = v.route.fold;
      const hosts = this.#views.find((w) => w.fold === fold)!.hosts;
      const t = hosts.patchAdd(fold === 0 ? v : { ...v, path: foldPattern(v.path, fold) }, rank);
      const at = rankPoint(ranks, rank);
      variants.splice(at, 0, v);
      ranks.splice(at, 0, rank);
      terminals.splice(at, 0, t);
    });
    this.size += added.length - gone.size;
    this.generation++;
    return true;
  }

  /**
   * Changes the value of routes in place, their specs unchanged (the routes that authenticate,
   * recompiled for new consumers): one pass over the variant array, nothing moves.
   */
  revalue(values: ReadonlyMap<RouteSpec, T>): void {
    if (values.size === 0) return;
    const variants = this.#variants;
    const terminals = this.#terminals;
    for (let i = 0; i < variants.length; i++) {
      const route = variants[i]!.route;
      const value = values.get(route.spec);
      if (value === undefined) continue;
      route.value = value;
      terminals[i]!.value = value;
    }
    this.generation++;
  }

  /** `host`: lower-case, no port. `path`: normalised, starts with '/', no query. */
  match(host: string, path: string, method: string, headers: IncomingHttpHeaders): RouteMatch<T> | undefined {
    this.#received = path;
    this.#method = method;
    this.#headers = headers;
    this.#best = undefined;
    this.#bestRank = NO_RANK;
    const views = this.#views;
    for (let v = 0; v < views.length; v++) {
      const view = views[v]!;
      this.#path = view.fold === 0 ? path : foldPath(path, view.fold);
      this.#bareRest = (view.fold & FOLD_SLASH) !== 0;
      this.#searchHosts(view.hosts, host);
    }
    this.#headers = NO_HEADERS; // do not keep the request alive until the next lookup
    // The cast undoes TypeScript's narrowing from the reset above; #search assigned it since.
    const best = this.#best as Terminal<T> | undefined;
    if (best === undefined) return undefined;
    return { value: best.value, params: best.paramNames.length > 0 || best.rest ? this.#params(best) : undefined };
  }

  #searchHosts(hosts: HostTable<T>, host: string): void {
    // Most specific bucket first, so later ones are mostly pruned by rank.
    const exact = hosts.exact.get(host);
    if (exact !== undefined) this.#search(exact);
    const lengths = hosts.wildcardLengths;
    for (let i = 0; i < lengths.length; i++) {
      // One or more labels before the suffix: at least one character, then the '.'.
      const cut = host.length - lengths[i]!;
      if (cut >= 2 && host.charCodeAt(cut - 1) === DOT) {
        const bucket = hosts.wildcard.get(host.slice(cut));
        if (bucket !== undefined) this.#search(bucket);
      }
    }
    this.#search(hosts.any);
  }

  #search(bucket: Bucket<T>): void {
    if (bucket.literalMinRank < this.#bestRank) {
      const literal = bucket.literalPaths.get(this.#path);
      if (literal !== undefined) this.#consider(literal, 0, -1);
    }
    this.#walk(bucket.root, 0, 0);
  }

  /**
   * `pos` is just past the segments consumed to reach `node`: the end of the path, or a '/'.
   * `n` is the number of params captured on the way.
   */
  #walk(node: TrieNode<T>, pos: number, n: number): void {
    if (node.minRank >= this.#bestRank) return;
    const path = this.#path;
    const length = path.length;
    if (pos === length) {
      if (node.exact !== undefined) this.#consider(node.exact, n, -1);
      // Slash-lenient view: '/admin/*' also matches '/admin' (and '/admin/', folded to it);
      // the rest starts past the end, so it is '' whichever of the two was received.
      if (this.#bareRest && node.rest !== undefined) this.#consider(node.rest, n, length + 1);
      return;
    }
    const start = pos + 1;
    let end = -1; // end of the next segment, found only when a branch needs it
    const only = node.only;
    if (only !== undefined) {
      if (startsLiteral(path, start, only.literal)) this.#walk(only, start + only.literal.length, n);
    } else if (node.statics !== undefined) {
      let h = 0;
      for (end = start; end < length; end++) {
        const c = path.charCodeAt(end);
        if (c === SLASH) break;
        h = hashStep(h, c);
      }
      let child = node.statics.get(h);
      while (child !== undefined && !startsLiteral(path, start, child.literal)) child = child.collision;
      if (child !== undefined) this.#walk(child, start + child.literal.length, n);
    }
    if (node.param !== undefined) {
      if (end < 0) {
        end = path.indexOf('/', start);
        if (end < 0) end = length;
      }
      if (end > start) {
        this.#caps[2 * n] = start;
        this.#caps[2 * n + 1] = end;
        this.#walk(node.param, end, n + 1);
      }
    }
    if (node.rest !== undefined) this.#consider(node.rest, n, start);
  }

  /** Terminals are sorted best-first: the first one that passes its conditions is all we need. */
  #consider(first: Terminal<T>, n: number, restStart: number): void {
    for (let t: Terminal<T> | undefined = first; t !== undefined; t = t.next) {
      if (t.rank >= this.#bestRank) return;
      if (accepts(t, this.#method, this.#headers)) {
        this.#best = t;
        this.#bestRank = t.rank;
        this.#bestRest = restStart;
        for (let j = 0; j < 2 * n; j++) this.#bestCaps[j] = this.#caps[j]!;
        return;
      }
    }
  }

  #params(best: Terminal<T>): Record<string, string> {
    const params: Record<string, string> = {};
    const names = best.paramNames;
    const caps = this.#bestCaps;
    for (let i = 0; i < names.length; i++) {
      params[names[i]!] = this.#received.slice(caps[2 * i], caps[2 * i + 1]);
    }
    if (best.rest) params['*'] = this.#received.slice(this.#bestRest);
    return params;
  }
}
