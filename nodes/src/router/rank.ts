/**
 * Which route wins when several match. Every (route, host, path) combination becomes one
 * Variant; all variants are sorted once with compareVariants and a variant's rank is its index
 * in that order. Matching then only compares integers (lower rank wins), so the rules below
 * cost nothing per request.
 *
 * Order, first difference decides:
 *  1. priority, higher first;
 *  2. host: exact > wildcard (longer suffix first) > no host condition;
 *  3. path: exact > params (more literal segments first) > prefix '/*' (more segments before
 *     the '*' first, then more literal ones among them);
 *  4. with a method condition > without;
 *  5. more header conditions > fewer;
 *  6. route name (code-unit order), then declaration order (route, host, path), so equal
 *     routes always resolve the same way.
 */
import type { HostPattern, PathPattern, RouteSpec } from './spec.ts';

export interface CompiledRoute<T> {
  /** What it was compiled from (a later table reuses its variants when the spec object is the same). */
  spec: RouteSpec;
  name: string;
  index: number;
  priority: number;
  value: T;
  /** undefined = any method. */
  methods: readonly string[] | undefined;
  /** Parallel arrays, undefined when there are no header conditions. */
  headerNames: readonly string[] | undefined;
  headerValues: readonly string[] | undefined;
  /** FOLD_CASE | FOLD_SLASH (spec.ts): how this route reads request paths. */
  fold: number;
}

export interface Variant<T> {
  route: CompiledRoute<T>;
  /** undefined when the route has no host condition. */
  host: HostPattern | undefined;
  hostIndex: number;
  path: PathPattern;
  pathIndex: number;
}

/** 2 exact, 1 wildcard, 0 any host. */
function hostKind(h: HostPattern | undefined): number {
  if (h === undefined) return 0;
  return h.kind === 'exact' ? 2 : 1;
}

function suffixLength(h: HostPattern | undefined): number {
  return h?.kind === 'wildcard' ? h.suffix.length : 0;
}

/** 2 exact, 1 params, 0 prefix. */
function pathKind(p: PathPattern): number {
  if (p.rest) return 0;
  return p.paramNames.length > 0 ? 1 : 2;
}

/** Negative when a should be tried before b. */
export function compareVariants<T>(a: Variant<T>, b: Variant<T>): number {
  const ra = a.route;
  const rb = b.route;
  return (rb.priority - ra.priority)
    || (hostKind(b.host) - hostKind(a.host))
    || (suffixLength(b.host) - suffixLength(a.host))
    || (pathKind(b.path) - pathKind(a.path))
    // For exact paths these tie (at most one literal path equals a request path); for params
    // it is the literal count; for prefixes the depth of the '*', then its literal count.
    || (a.path.rest ? b.path.segments.length - a.path.segments.length : 0)
    || (b.path.literalCount - a.path.literalCount)
    || ((rb.methods ? 1 : 0) - (ra.methods ? 1 : 0))
    || ((rb.headerNames?.length ?? 0) - (ra.headerNames?.length ?? 0))
    || (ra.name < rb.name ? -1 : ra.name > rb.name ? 1 : 0)
    || (ra.index - rb.index)
    || (a.hostIndex - b.hostIndex)
    || (a.pathIndex - b.pathIndex);
}
