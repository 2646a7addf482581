/**
 * Turns route specs into ranked variants: one per (host, path) pair of each route, because
 * each pair has its own specificity (a route listing 'api.example.com' and '*.example.com'
 * is an exact-host match for one request and a wildcard match for another).
 */
import { compareVariants } from './rank.ts';
import type { CompiledRoute, Variant } from './rank.ts';
import { FOLD_CASE, FOLD_SLASH, parseHost, parsePath } from './spec.ts';
import type { HostPattern, RouteSpec } from './spec.ts';

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
    name: spec.name,
    index,
    priority: spec.priority,
    value,
    methods,
    headerNames: headerEntries.length > 0 ? headerEntries.map(([k]) => k.toLowerCase()) : undefined,
    headerValues: headerEntries.length > 0 ? headerEntries.map(([, v]) => v) : undefined,
    fold: (spec.caseSensitive === false ? FOLD_CASE : 0) | (spec.strictSlash === false ? FOLD_SLASH : 0),
  };

  const hosts: (HostPattern | undefined)[] = spec.hosts !== undefined && spec.hosts.length > 0
    ? spec.hosts.map(parseHost)
    : [undefined];
  const paths = spec.paths.map(parsePath);
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

/** All variants of all entries, best first: a variant's index is its rank. */
export function compileVariants<T>(entries: ReadonlyArray<{ spec: RouteSpec; value: T }>): Variant<T>[] {
  const all: Variant<T>[] = [];
  entries.forEach(({ spec, value }, index) => {
    try {
      for (const v of compileRoute(spec, value, index)) all.push(v);
    } catch (err) {
      throw new Error(`route "${String(spec.name)}": ${(err as Error).message}`, { cause: err });
    }
  });
  return all.sort(compareVariants);
}
