/**
 * The route table's input and output shapes, and the compile-time parsing of host and path
 * patterns. Everything here runs once per table build, so it favours clear errors over speed;
 * the per-request code in router.ts never parses a pattern.
 */

export interface RouteSpec {
  name: string;
  /** Exact 'api.example.com' or wildcard '*.example.com' (one or more labels); compared lower-case. */
  hosts?: readonly string[];
  /** '/users' exact, '/users/*' prefix (not '/users' itself), '/users/:id' params, '/a/:id/*' both. */
  paths: readonly string[];
  /** Upper-case; absent or empty = any method. */
  methods?: readonly string[];
  /** Lower-case header name -> exact value of req.headers[name]. */
  headers?: Readonly<Record<string, string>>;
  /** Higher wins first, before any specificity rule. */
  priority: number;
  /** false: the path matches in any ASCII case (`/admin` matches `/ADMIN`). Default true. */
  caseSensitive?: boolean;
  /**
   * false: one trailing slash does not matter (`/admin` matches `/admin/`, `/admin/` matches
   * `/admin`, `/admin/*` also matches `/admin`). Default true.
   */
  strictSlash?: boolean;
}

/** '*' holds the rest of a prefix match (without its leading slash); params is undefined when none. */
export interface RouteMatch<T> {
  value: T;
  params: Record<string, string> | undefined;
}

export interface PathPattern {
  source: string;
  /** One item per segment before any '*': the literal text, or undefined for a ':param'. */
  segments: (string | undefined)[];
  /** Param names in segment order; their count is fixed by the trie position, so no per-node names. */
  paramNames: string[];
  /** Ends in '/*': matches anything below the prefix and captures it as params['*']. */
  rest: boolean;
  literalCount: number;
}

export type HostPattern =
  | { kind: 'exact'; host: string }
  | { kind: 'wildcard'; suffix: string };

// Identifier-like so a rewrite template such as '/v2/:id-x' can tell where a name ends, and so
// a name can never be '__proto__' and reach Object.prototype through the params object.
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parsePath(source: string): PathPattern {
  const fail = (why: string): never => {
    throw new Error(`path "${source}": ${why}`);
  };
  if (!source.startsWith('/')) fail("must start with '/'");
  if (source.includes('?') || source.includes('#')) fail('must not contain a query or fragment');
  const raw = source.slice(1).split('/');
  const rest = raw[raw.length - 1] === '*';
  if (rest) raw.pop();
  const segments: (string | undefined)[] = [];
  const paramNames: string[] = [];
  let literalCount = 0;
  for (let i = 0; i < raw.length; i++) {
    const seg = raw[i] as string;
    // Requests arrive normalised (no '//', no dot segments), so such patterns could never match;
    // rejecting them turns a silent dead route into a config error. The one empty segment allowed
    // is a trailing slash ('/', '/users/') on a pattern without '*'.
    if (seg === '' && (rest || i !== raw.length - 1)) fail("empty segment ('//')");
    if (seg === '.' || seg === '..') fail('dot segments never match a normalised path');
    if (seg.includes('*')) fail("'*' is only allowed as the whole last segment");
    if (seg.startsWith(':')) {
      const name = seg.slice(1);
      if (!PARAM_NAME.test(name)) fail(`param name "${name}" must match ${PARAM_NAME.source}`);
      if (paramNames.includes(name)) fail(`param "${name}" appears twice`);
      paramNames.push(name);
      segments.push(undefined);
    } else {
      literalCount++;
      segments.push(seg);
    }
  }
  return { source, segments, paramNames, rest, literalCount };
}

/** View bits: how a route reads request paths. 0 = exactly as normalised. */
export const FOLD_CASE = 1;
export const FOLD_SLASH = 2;

/** ASCII upper case to lower case; the length never changes, so offsets stay valid. */
export function lowerAscii(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
  }
  return s;
}

/** A request path as a view reads it: one trailing slash dropped (not the root's), ASCII case folded. */
export function foldPath(path: string, fold: number): string {
  let p = path;
  if ((fold & FOLD_SLASH) !== 0 && p.length > 1 && p.charCodeAt(p.length - 1) === 0x2f) p = p.slice(0, -1);
  return (fold & FOLD_CASE) !== 0 ? lowerAscii(p) : p;
}

/** A pattern as its view stores it: literals folded like request paths (param names kept). */
export function foldPattern(p: PathPattern, fold: number): PathPattern {
  if (fold === 0) return p;
  let segments = p.segments;
  if ((fold & FOLD_SLASH) !== 0 && !p.rest && segments.length > 1 && segments[segments.length - 1] === '') segments = segments.slice(0, -1);
  if ((fold & FOLD_CASE) !== 0) segments = segments.map((s) => (s === undefined ? s : lowerAscii(s)));
  let n = 0;
  const source = '/' + segments.map((s) => s ?? ':' + p.paramNames[n++]).join('/') + (p.rest ? (segments.length > 0 ? '/*' : '*') : '');
  return { ...p, source, segments };
}

export function parseHost(source: string): HostPattern {
  const host = source.toLowerCase();
  if (host.startsWith('*.')) {
    const suffix = host.slice(2);
    if (suffix === '' || suffix.includes('*') || suffix.startsWith('.')) {
      throw new Error(`host "${source}": wildcard must look like '*.example.com'`);
    }
    return { kind: 'wildcard', suffix };
  }
  if (host === '' || host.includes('*')) {
    throw new Error(`host "${source}": must be a host name or '*.suffix'`);
  }
  return { kind: 'exact', host };
}
