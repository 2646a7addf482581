/**
 * Where compiled routes are stored: one Bucket per host condition (each exact host, each
 * wildcard suffix, and one for routes without hosts). Inside a bucket, fully literal paths go
 * in a map keyed by the whole path, so the most common route shape costs one native hash
 * lookup however many routes there are; paths with params or '/*' go in the segment trie.
 */
import type { Variant } from './rank.ts';
import { NO_RANK, TrieNode, compact, insert, insertSorted } from './trie.ts';
import type { Terminal } from './trie.ts';

export class Bucket<T> {
  /** Whole request path -> routes with exactly that literal path, best first. */
  readonly literalPaths = new Map<string, Terminal<T>>();
  /** Best rank in literalPaths, so a lookup that already has a better winner skips hashing the path. */
  literalMinRank = NO_RANK;
  readonly root = new TrieNode<T>('');
}

export class HostTable<T> {
  readonly exact = new Map<string, Bucket<T>>();
  /** Keyed by the suffix after '*.'. */
  readonly wildcard = new Map<string, Bucket<T>>();
  /**
   * Distinct wildcard suffix lengths, longest first. A lookup tries one suffix per length
   * rather than one per '.' in the host, and longest first is also best-rank first.
   */
  wildcardLengths: readonly number[] = [];
  readonly any = new Bucket<T>();
  maxParams = 0;
  /** One shared array per distinct list of param names: fewer distinct objects to fetch. */
  readonly #paramNames = new Map<string, readonly string[]>();

  /** One (route, host, path) at its rank; call finish() after the last add of a build. */
  add(v: Variant<T>, rank: number): Terminal<T> {
    const bucket = v.host === undefined ? this.any
      : v.host.kind === 'exact' ? bucketIn(this.exact, v.host.host)
      : bucketIn(this.wildcard, v.host.suffix);
    const path = v.path;
    const r = v.route;
    const terminal: Terminal<T> = {
      rank, value: r.value, methods: r.methods, headerNames: r.headerNames, headerValues: r.headerValues,
      paramNames: this.#names(path.paramNames), rest: path.rest, next: undefined,
    };
    if (!path.rest && path.paramNames.length === 0) {
      bucket.literalPaths.set(path.source, insertSorted(bucket.literalPaths.get(path.source), terminal));
      bucket.literalMinRank = Math.min(bucket.literalMinRank, rank);
    } else {
      insert(bucket.root, path, terminal);
    }
    this.maxParams = Math.max(this.maxParams, path.paramNames.length);
    return terminal;
  }

  /** After finish(): one more variant, at any rank (a patched table, see Router.patch). */
  patchAdd(v: Variant<T>, rank: number): Terminal<T> {
    const t = this.add(v, rank);
    if (v.host?.kind === 'wildcard' && !this.wildcardLengths.includes(v.host.suffix.length)) {
      this.wildcardLengths = [...this.wildcardLengths, v.host.suffix.length].sort((a, b) => b - a);
    }
    return t;
  }

  #names(names: readonly string[]): readonly string[] {
    const key = names.join('/');
    let shared = this.#paramNames.get(key);
    if (shared === undefined) this.#paramNames.set(key, (shared = names));
    return shared;
  }

  /** Call once after the last add. */
  finish(): void {
    for (const b of [this.any, ...this.exact.values(), ...this.wildcard.values()]) compact(b.root);
    this.wildcardLengths = [...new Set([...this.wildcard.keys()].map((s) => s.length))].sort((a, b) => b - a);
  }
}

function bucketIn<T>(map: Map<string, Bucket<T>>, key: string): Bucket<T> {
  let b = map.get(key);
  if (b === undefined) map.set(key, (b = new Bucket<T>()));
  return b;
}
