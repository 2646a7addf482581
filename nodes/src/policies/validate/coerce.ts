/**
 * Query, path and header values are strings; their schemas say integer, boolean, array.
 * They are converted on a copy (never on what is forwarded) with strict rules of our own
 * rather than ajv's coerceTypes, which reads " 5", "1e3" and "0x10"-like text as numbers:
 * an upstream doing parseInt("1e3") sees 1 where the gateway validated 1000 (a parser
 * differential again). Only canonical spellings convert; anything else stays a string
 * and fails the type check.
 * - integer: -?(0|[1-9][0-9]*)     number: the JSON number grammar (RFC 8259 §6)
 * - boolean: exactly `true` / `false`
 * - array: repeated keys (`?id=1&id=2`, OpenAPI style form + explode), or one value split
 *   on the style's delimiter (form/simple: ',', spaceDelimited: ' ', pipeDelimited: '|').
 * A parameter declared as a single value but sent several times is an error, not "take
 * the first" (HTTP parameter pollution: the gateway and the upstream may pick different ones).
 */
import type { FieldError, Location } from './ajv.ts';
import { MAX_ERRORS, escapePointer } from './ajv.ts';

const K_STRING = 0;
const K_INTEGER = 1;
const K_NUMBER = 2;
const K_BOOLEAN = 3;

export interface ParamShape {
  readonly name: string;
  readonly kind: number;
  readonly array: boolean;
  /** Delimiter that splits one value into items, or '' when items come from repeated keys only. */
  readonly split: string;
  /** Trim optional whitespace around items (header lists, RFC 9110 §5.6.1). */
  readonly trim: boolean;
}

type Schema = Record<string, unknown>;

function kindOf(schema: Schema | undefined): number {
  const t = schema?.type;
  const types = Array.isArray(t) ? t : [t];
  if (types.includes('integer')) return K_INTEGER;
  if (types.includes('number')) return K_NUMBER;
  if (types.includes('boolean')) return K_BOOLEAN;
  return K_STRING;
}

/**
 * Shape of one parameter from its schema. `resolve` follows a `$ref` (bounded; a cycle
 * leaves the value a string, and the validator still checks it).
 */
export function shapeOf(name: string, schema: unknown, split: string, trim: boolean, resolve: (ref: string) => unknown): ParamShape {
  let s = schema as Schema | undefined;
  for (let hops = 0; s && typeof s.$ref === 'string' && hops < 16; hops++) s = resolve(s.$ref) as Schema | undefined;
  const t = s?.type;
  const isArray = t === 'array' || (Array.isArray(t) && t.includes('array'));
  if (!isArray) return { name, kind: kindOf(s), array: false, split: '', trim };
  let items = s?.items as Schema | undefined;
  for (let hops = 0; items && typeof items.$ref === 'string' && hops < 16; hops++) items = resolve(items.$ref) as Schema | undefined;
  return { name, kind: kindOf(items), array: true, split, trim };
}

const INTEGER = /^-?(0|[1-9][0-9]*)$/;
const NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

function convert(v: string, kind: number): unknown {
  switch (kind) {
    case K_INTEGER: return INTEGER.test(v) ? Number(v) : v;
    case K_NUMBER: {
      if (!NUMBER.test(v)) return v;
      const n = Number(v);
      return Number.isFinite(n) ? n : v;
    }
    case K_BOOLEAN: return v === 'true' ? true : v === 'false' ? false : v;
    default: return v;
  }
}

/** Convert declared parameters of `data` in place (data is the validator's private copy). */
export function coerce(data: Record<string, unknown>, shapes: readonly ParamShape[], where: Location, errors: FieldError[]): void {
  for (const sh of shapes) {
    const v = data[sh.name];
    if (v === undefined) continue;
    if (!sh.array) {
      if (Array.isArray(v)) {
        if (errors.length < MAX_ERRORS) errors.push({ in: where, path: '/' + escapePointer(sh.name), message: 'must be a single value' });
        continue;
      }
      data[sh.name] = convert(v as string, sh.kind);
      continue;
    }
    let items: string[];
    if (Array.isArray(v)) items = v as string[];
    else if (sh.split && v === '') items = [];
    else if (sh.split) {
      items = (v as string).split(sh.split);
      if (sh.trim) for (let i = 0; i < items.length; i++) items[i] = items[i]!.trim();
    }
    else items = [v as string];
    data[sh.name] = sh.kind === K_STRING ? items : items.map((x) => convert(x, sh.kind));
  }
}
