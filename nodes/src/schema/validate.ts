/**
 * Config validation: the schema pass (ajv, every error) then the policy pass (each policy's
 * own schema from the registry) and the reference pass (a route names a known upstream).
 * Errors carry a dotted path as users write it: `routes.users.match.paths[0]: must start with /`.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { TSchema } from 'typebox';
import { GatewayConfig, Route, Upstream, Consumer, ProtoSet } from './model.ts';
import { policies } from '../policies/registry.ts';
import { loadProtoSet } from '../protos/sets.ts';

export interface ConfigError { path: string; message: string }

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true, useDefaults: false });
const compiled = new WeakMap<object, ValidateFunction>();

export function compileSchema(schema: TSchema): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) { v = ajv.compile(schema); compiled.set(schema, v); }
  return v;
}

/** `routes.users.match.paths[0]`: array indexes in brackets, keys dotted (quoted when odd). */
export function formatPath(base: string, segments: readonly (string | number)[]): string {
  let out = base;
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

function pointerSegments(pointer: string, data: unknown): (string | number)[] {
  if (!pointer) return [];
  const out: (string | number)[] = [];
  let cur: any = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) { out.push(Number(key)); cur = cur[Number(key)]; }
    else { out.push(key); cur = cur?.[key]; }
  }
  return out;
}

function message(e: ErrorObject): string {
  const custom = (e.parentSchema as any)?.['x-message'];
  switch (e.keyword) {
    case 'additionalProperties':
      return (e.parentSchema as any)?.patternProperties
        ? `invalid name "${(e.params as any).additionalProperty}": must be letters, digits, . _ - (at most 128)`
        : `unknown field "${(e.params as any).additionalProperty}"`;
    case 'required': return `missing required field "${(e.params as any).missingProperty}"`;
    case 'pattern': return custom ?? `must match ${(e.params as any).pattern}`;
    case 'propertyNames': return 'has an invalid name';
    default: return custom && e.keyword !== 'type' ? custom : (e.message ?? 'is invalid');
  }
}

/** Map ajv errors to ConfigErrors; for unions, keep only the most useful branch errors. */
export function ajvErrors(errs: readonly ErrorObject[] | null | undefined, data: unknown, base = ''): ConfigError[] {
  if (!errs) return [];
  const seen = new Set<string>();
  const out: ConfigError[] = [];
  // A failed anyOf reports every branch; if some branch matched the type, drop the type-mismatch noise.
  const anyOfPaths = new Set(errs.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  for (const e of errs) {
    if (e.keyword === 'anyOf') continue;
    if (e.keyword === 'propertyNames') continue; // reported through its child error with the name
    let segs = pointerSegments(e.instancePath, data);
    if (e.keyword === 'propertyNames' || (e.params as any)?.propertyName) {
      segs = [...segs, (e.params as any).propertyName];
    }
    if (anyOfPaths.has(e.instancePath) && (e.keyword === 'type' || e.keyword === 'const')) {
      const sibling = errs.some((o) => o.instancePath === e.instancePath && o.keyword !== 'type' && o.keyword !== 'const' && o.keyword !== 'anyOf');
      if (sibling) continue;
    }
    const path = formatPath(base, segs);
    const msg = e.keyword === 'pattern' && (e.params as any)?.propertyName === undefined && e.propertyName !== undefined
      ? `name ${message(e)}` : message(e);
    const k = `${path}: ${msg}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ path, message: msg });
  }
  // anyOf with only type errors: say it once
  for (const p of anyOfPaths) {
    const segs = pointerSegments(p, data);
    const path = formatPath(base, segs);
    if (!out.some((o) => o.path === path || o.path.startsWith(path + '.') || o.path.startsWith(path + '['))) {
      out.push({ path, message: 'does not match any allowed form' });
    }
  }
  return out;
}

function checkPolicies(route: any, base: string, out: ConfigError[], upstreams?: Record<string, unknown>, doc?: any, baseDir = process.cwd()): void {
  const pol = route?.policies;
  if (!pol || typeof pol !== 'object') return;
  for (const [name, cfg] of Object.entries(pol)) {
    const p = policies.get(name);
    const path = formatPath(base, ['policies', name]);
    if (!p) { out.push({ path, message: `unknown policy "${name}" (known: ${[...policies.keys()].join(', ')})` }); continue; }
    const v = compileSchema(p.schema);
    if (!v(cfg ?? {})) { out.push(...ajvErrors(v.errors, cfg, path)); continue; }
    if (upstreams && p.upstreamRefs) {
      for (const [rel, ref] of p.upstreamRefs(cfg ?? {})) {
        if (!(ref in upstreams)) out.push({ path: formatPath(path, rel), message: `unknown upstream "${ref}"` });
      }
    }
    if (doc && p.check) for (const [rel, message] of p.check(cfg ?? {}, doc, baseDir)) out.push({ path: formatPath(path, rel), message });
  }
}

/** Validate a whole document. Empty array = valid. */
export function validateConfig(raw: unknown, baseDir = process.cwd()): ConfigError[] {
  const v = compileSchema(GatewayConfig);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return [{ path: '(root)', message: 'must be a mapping of node, upstreams, consumers, routes' }];
  const out: ConfigError[] = v(raw) ? [] : ajvErrors(v.errors, raw);
  const doc = raw as any;
  const ups = doc.upstreams && typeof doc.upstreams === 'object' ? doc.upstreams : {};
  for (const [name, route] of Object.entries<any>(doc.routes ?? {})) {
    const base = formatPath('', ['routes', name]);
    checkPolicies(route, base, out, ups, doc, baseDir);
    if (route && typeof route === 'object' && typeof route.upstream === 'string' && !(route.upstream in ups)) {
      out.push({ path: `${base}.upstream`, message: `unknown upstream "${route.upstream}"` });
    }
  }
  // A proto set that does not parse is an error at its own path (its file and line in the message).
  if (v(raw)) for (const [name, set] of Object.entries<any>(doc.protos ?? {})) {
    try { loadProtoSet(set, baseDir); } catch (err) { out.push({ path: formatPath('', ['protos', name]), message: (err as Error).message }); }
  }
  for (const [name, up] of Object.entries<any>(ups)) {
    if (up && typeof up === 'object' && !up.targets?.length && !up.discovery) {
      out.push({ path: formatPath('', ['upstreams', name]), message: 'needs targets or discovery' });
    }
    // The registry lives in etcd: without node.cluster nothing would ever fill the target list.
    if (up && typeof up === 'object' && typeof up.discovery?.service === 'string' && !doc.node?.cluster) {
      out.push({ path: formatPath('', ['upstreams', name, 'discovery', 'service']), message: 'registry discovery needs cluster mode (node.cluster with etcd); use targets or discovery.dns standalone' });
    }
  }
  return out;
}

/** Validate one item, as the etcd source does per key. `kind` is routes | upstreams | consumers | protos. */
export function validateItem(kind: 'routes' | 'upstreams' | 'consumers' | 'protos', name: string, raw: unknown): ConfigError[] {
  const schema = kind === 'routes' ? Route : kind === 'upstreams' ? Upstream : kind === 'protos' ? ProtoSet : Consumer;
  const v = compileSchema(schema);
  const base = formatPath('', [kind, name]);
  const out = v(raw) ? [] : ajvErrors(v.errors, raw, base);
  if (kind === 'routes') checkPolicies(raw, base, out);
  // A stored proto set must parse on its own (files mode: no local paths involved).
  if (kind === 'protos' && !out.length) {
    try { loadProtoSet(raw as object, process.cwd()); } catch (err) { out.push({ path: base, message: (err as Error).message }); }
  }
  return out;
}

export function formatErrors(errs: readonly ConfigError[]): string {
  return errs.map((e) => `${e.path}: ${e.message}`).join('\n');
}
