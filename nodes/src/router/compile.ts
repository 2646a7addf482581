/**
 * Turns route specs into ranked variants: one per (host, path) pair of each route, because
 * each pair has its own specificity (a route listing 'api.example.com' and '*.example.com'
 * is an exact-host match for one request and a wildcard match for another).
 */
import { compareVariants } from './rank.ts';
import type { CompiledRoute, Variant } from './rank.ts';
import { FOLD_CASE, FOLD_SLASH, parseHost, parsePath } from './spec.ts';
import type { HostPattern, PathPattern, RouteSpec } from './spec.ts';

/**
 * A spec's parsed hosts and paths, kept by the spec object: a reload reuses the specs of the
 * routes it did not change, so rebuilding the table re-parses only the changed routes.
 */
const parsedSpecs = new WeakMap<RouteSpec, { hosts: (HostPattern | undefined)[]; paths: PathPattern[] }>();
function parsed(spec: RouteSpec): { hosts: (HostPattern | undefined)[]; paths: PathPattern[] } {
  let p = parsedSpecs.get(spec);
  if (p === undefined) {
    p = {
      hosts: spec.hosts !== undefined && spec.hosts.length > 0 ? spec.hosts.map(parseHost) : [undefined],
      paths: spec.paths.map(parsePath),
    };
    parsedSpecs.set(spec, p);
  }
  return p;
}

function compileRoute<T>(spec: RouteSpec, value: T, index: number): Variant<T>[] {
  if (typeof spec.name !== 'string') throw new Error('name must be a string');
  if (!Number.isFinite(spec.priority)) throw new Error('priority must be a finite number');
  if (spec.paths.length === 0) throw new Error('needs at least one path');

  // Empty lists mean "no condition", the same as absent, rather than "matches nothing": a route
  // that can never match is better expressed by not configuring it.
  const methods = spec.methods !== undefined && spec.methods.length > 0
    ? [...new Set(spec.methods.map((m) => m.toUpperCase()))]
    : undefined;
  const headerEntries = Object.entries(spec.headers ?? {});
  const route: CompiledRoute<T> = {
    spec,
    name: spec.name,
    index,
    priority: spec.priority,
    value,
    methods,
    headerNames: headerEntries.length > 0 ? headerEntries.map(([k]) => k.toLowerCase()) : undefined,
    headerValues: headerEntries.length > 0 ? headerEntries.map(([, v]) => v) : undefined,
    fold: (spec.caseSensitive === false ? FOLD_CASE : 0) | (spec.strictSlash === false ? FOLD_SLASH : 0),
  };

  const { hosts, paths } = parsed(spec);
  const variants: Variant<T>[] = [];
  hosts.forEach((host, hostIndex) => {
    paths.forEach((path, pathIndex) => {
      variants.push({
        route,
        host,
        hostIndex,
        path,
        pathIndex,
      });
    });
  });
  return variants;
}

export function variantsOf<T>(spec: RouteSpec, value: T, index: number): Variant<T>[] {
  try {
    return compileRoute(spec, value, index);
  } catch (err) {
    throw new Error(`route "${String(spec.name)}": ${(err as Error).message}`, { cause: err });
  }
}

/** All variants of all entries, best first: a variant's index is its rank. */
export function compileVariants<T>(entries: ReadonlyArray<{ spec: RouteSpec; value: T }>): Variant<T>[] {
  const all: Variant<T>[] = [];
  entries.forEach(({ spec, value }, index) => {
    for (const v of variantsOf(spec, value, index)) all.push(v);
  });
  return all.sort(compareVariants);
}

/**
 * The same order as compileVariants, reusing a previous table's sorted variants for every
 * entry whose spec and value are the ones it was built with: only the other entries' variants
 * are made and sorted, then merged in one pass. Sound because the order never depends on the
 * declaration index between routes of different names (rank.ts: the name decides first), and
 * route names are unique in a config.
 */
export function updateVariants<T>(entries: ReadonlyArray<{ spec: RouteSpec; value: T }>, previous: readonly Variant<T>[]): Variant<T>[] {
  const before = new Map<RouteSpec, T>();
  for (const v of previous) before.set(v.route.spec, v.route.value);
  const keep = new Set<RouteSpec>();
  const fresh: Variant<T>[] = [];
  entries.forEach(({ spec, value }, index) => {
    if (before.has(spec) && before.get(spec) === value && !keep.has(spec)) keep.add(spec);
    else for (const v of variantsOf(spec, value, index)) fresh.push(v);
  });
  fresh.sort(compareVariants);
  const out: Variant<T>[] = [];
  let j = 0;
  for (const v of previous) {
    if (!keep.has(v.route.spec)) continue;
    while (j < fresh.length && compareVariants(fresh[j]!, v) < 0) out.push(fresh[j++]!);
    out.push(v);
  }
  while (j < fresh.length) out.push(fresh[j++]!);
  return out;
}
