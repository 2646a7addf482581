/**
 * The schema pass of config validation: ajv with every error, mapped to paths as users write
 * them (`routes.users.match.paths[0]: must start with /`). The whole check, with the policies'
 * own schemas and the semantic pass, is validation/validate.ts.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { TSchema } from 'typebox';

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
    case 'const': return `must be ${JSON.stringify((e.params as any).allowedValue)}`;
    case 'enum': return `must be one of ${((e.params as any).allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    // A wrong type where the field has its own wording (durations, sizes): say what it takes.
    case 'type': return custom ? `${custom} (got ${describe(e.data)})` : (e.message ?? 'is invalid');
    default: return custom ?? (e.message ?? 'is invalid');
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`;
}

/** Map ajv errors to ConfigErrors; for unions, keep only the most useful branch errors. */
export function ajvErrors(errs: readonly ErrorObject[] | null | undefined, data: unknown, base = ''): ConfigError[] {
  if (!errs) return [];
  const seen = new Set<string>();
  const out: ConfigError[] = [];
  // A failed anyOf reports every branch; if some branch matched the type, drop the type-mismatch noise.
  const anyOfPaths = new Set(errs.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  // A union of literals (TypeBox's enum): every branch failed its const; name the allowed values once.
  const choices = new Map<string, unknown[]>();
  for (const p of anyOfPaths) {
    const at = errs.filter((o) => o.instancePath === p && o.keyword !== 'anyOf');
    if (at.length > 1 && at.every((o) => o.keyword === 'const')) choices.set(p, at.map((o) => (o.params as any).allowedValue));
  }
  for (const [p, values] of choices) {
    const path = formatPath(base, pointerSegments(p, data));
    out.push({ path, message: `must be one of ${values.map((v) => JSON.stringify(v)).join(', ')}` });
    seen.add(`${path}: must be one of`);
  }
  for (const e of errs) {
    if (choices.has(e.instancePath) && e.keyword === 'const') continue;
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

export function formatErrors(errs: readonly ConfigError[]): string {
  return errs.map((e) => `${e.path}: ${e.message}`).join('\n');
}
