/**
 * validate: check requests against JSON Schema (2020-12) or an OpenAPI 3.x description
 * before they reach the upstream (docs/policies/validate.md). Everything is compiled when
 * the config loads; a schema ajv refuses, an unreadable OpenAPI file or a construct this
 * policy cannot enforce rejects the config instead of passing requests unchecked.
 * Failures: 400 GW_VALIDATION_FAILED with `errors: [{in, path, message}]`, 415 for a
 * media type or coding not accepted, 413 over `maxBodySize`.
 */
import type { PolicyDefinition, PolicyHandlers, LocalReply } from '../../request/policy.ts';
import type { RequestContext } from '../../request/context.ts';
import { parseSize } from '../../schema/duration.ts';
import { createAjv } from './ajv.ts';
import { Checker, invalid, type CheckerSpec, type PartCheck } from './checker.ts';
import { shapeOf } from './coerce.ts';
import { isJsonMediaType } from './body.ts';
import { OpenApiCompiler, loadOpenApi, type Operations } from './openapi.ts';
import type { PathMatcher } from './path-match.ts';
import { schema, type ValidateConfig } from './schema.ts';
import { spec } from './spec.ts';
import type { Ajv2020 } from 'ajv/dist/2020.js';

export { schema };

const DEFAULT_MAX_BODY = 1024 * 1024;
const DEFAULT_MAX_DEPTH = 32;
/** Top-level keywords that only describe declared headers: then only those headers are copied per request. */
const DECLARATIVE = new Set(['type', 'properties', 'required', 'title', 'description', '$comment']);

/** Compiled inline checkers by config JSON; oldest dropped first past the cap. */
const plainCache = new Map<string, PolicyHandlers>();
const PLAIN_CACHE_MAX = 4096;

export const validate: PolicyDefinition<ValidateConfig> = {
  ...spec,
  create(config, deps) {
    const where = `routes.${deps.routeName}.policies.validate`;
    const limits = {
      maxBodySize: config.maxBodySize === undefined ? DEFAULT_MAX_BODY : parseSize(config.maxBodySize),
      maxDepth: config.maxDepth ?? DEFAULT_MAX_DEPTH,
      restore: config.enforce === false,
    };
    if (config.openapi !== undefined) {
      // Not cached: the description is a file whose content may change between reloads.
      const ajv = createAjv();
      for (const k of ['query', 'params', 'headers', 'body', 'contentTypes', 'bodyRequired'] as const) {
        if (config[k] !== undefined) throw new Error(`${where}.${k}: cannot be combined with openapi (the description says it)`);
      }
      let matcher: PathMatcher<Operations>;
      try {
        matcher = new OpenApiCompiler(loadOpenApi(config.openapi, deps.baseDir), ajv, deps.logger).compile(limits);
      } catch (err) {
        throw new Error(`${where}.openapi: ${(err as Error).message}`, { cause: err });
      }
      return openApiHandlers(matcher, config.basePath?.replace(/\/+$/, '') ?? '', config.unmatched === 'pass');
    }
    if (config.basePath !== undefined || config.unmatched !== undefined) throw new Error(`${where}: basePath and unmatched apply to openapi only`);
    // The inline form depends on its config alone: routes with the same config share one
    // compiled checker (ajv compile is milliseconds per schema; 1,000 routes paid it 1,000 times).
    const key = JSON.stringify(config);
    const cached = plainCache.get(key);
    if (cached !== undefined) return cached;
    const checker = new Checker(plainSpec(config, createAjv(), limits, where));
    const handlers = Object.freeze<PolicyHandlers>({ request: (ctx) => checker.check(ctx) });
    if (plainCache.size >= PLAIN_CACHE_MAX) plainCache.delete(plainCache.keys().next().value!);
    plainCache.set(key, handlers);
    return handlers;
  },
};

const NO_OPERATION: LocalReply = Object.freeze(invalid([], 'No operation in the API description matches this method and path'));

function openApiHandlers(matcher: PathMatcher<Operations>, base: string, pass: boolean): PolicyHandlers {
  return Object.freeze<PolicyHandlers>({
    request(ctx: RequestContext) {
      let path = ctx.path;
      if (base) {
        if (!path.startsWith(base) || (path.length > base.length && path.charCodeAt(base.length) !== 47)) return pass ? undefined : NO_OPERATION;
        path = path.length === base.length ? '/' : path.slice(base.length);
      }
      const m = matcher.match(path);
      // HEAD is GET without the body (RFC 9110 §9.3.2): described by the GET operation when there is no head one.
      const op = m && (m.value.get(ctx.method) ?? (ctx.method === 'HEAD' ? m.value.get('GET') : undefined));
      if (!op) return pass ? undefined : NO_OPERATION;
      return op.check(ctx, m.params);
    },
  });
}

function compileAt(ajv: Ajv2020, s: unknown, where: string): ReturnType<Ajv2020['compile']> {
  try {
    return ajv.compile(s as object);
  } catch (err) {
    throw new Error(`${where}: invalid JSON Schema: ${(err as Error).message}`, { cause: err });
  }
}

/** A `#/...` pointer inside the config-given schema (for reading parameter types through $ref). */
function localResolver(root: unknown): (ref: string) => unknown {
  return (ref) => {
    if (!ref.startsWith('#/')) return undefined;
    let cur: any = root;
    for (const raw of ref.slice(2).split('/')) cur = cur?.[raw.replaceAll('~1', '/').replaceAll('~0', '~')];
    return cur;
  };
}

function plainSpec(config: ValidateConfig, ajv: Ajv2020, limits: Pick<CheckerSpec, 'maxBodySize' | 'maxDepth' | 'restore'>, where: string): CheckerSpec {
  const part = (key: 'query' | 'params' | 'headers'): PartCheck | undefined => {
    let s = config[key];
    if (s === undefined) return undefined;
    const header = key === 'headers';
    if (header) s = lowerHeaderNames(s);
    const props = (s.properties ?? {}) as Record<string, unknown>;
    const resolve = localResolver(s);
    const shapes = Object.entries(props).map(([n, p]) => shapeOf(n, p, header ? ',' : '', header, resolve));
    const names = header && Object.keys(s).every((k) => DECLARATIVE.has(k)) ? Object.keys(props) : undefined;
    return { validate: compileAt(ajv, s, `${where}.${key}`), shapes, names };
  };
  const spec: CheckerSpec = {
    query: part('query'),
    params: part('params'),
    headers: part('headers'),
    media: undefined,
    bodyRequired: config.bodyRequired ?? 'by-method',
    ...limits,
  };
  if (config.body !== undefined || config.contentTypes !== undefined) {
    const validate = config.body === undefined ? undefined : compileAt(ajv, config.body, `${where}.body`);
    const ranges = (config.contentTypes ?? ['application/json']).map((t) => t.toLowerCase());
    if (validate) {
      for (const r of ranges) if (!isJsonMediaType(r)) throw new Error(`${where}.contentTypes: ${r} is not a JSON media type; a body schema applies to JSON bodies only`);
    }
    spec.media = ranges.map((range) => ({ range, validate }));
    if (config.body === undefined && config.bodyRequired === undefined) spec.bodyRequired = false;
  }
  if (!spec.query && !spec.params && !spec.headers && !spec.media) throw new Error(`${where}: nothing to check (set query, params, headers, body, contentTypes or openapi)`);
  return spec;
}

/** Header names are case-insensitive (RFC 9110 §5.1); Node gives them lower-case, so the schema's must be too. */
function lowerHeaderNames(s: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...s };
  if (s.properties && typeof s.properties === 'object') {
    out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k.toLowerCase(), v]));
  }
  if (Array.isArray(s.required)) out.required = s.required.map((k) => (typeof k === 'string' ? k.toLowerCase() : k));
  return out;
}
