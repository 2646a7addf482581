/**
 * OpenAPI 3.0 / 3.1 import: every operation's parameters and JSON request body become a
 * Checker at load time. What cannot be enforced faithfully is refused at load (a check
 * silently skipped is worse than a config error): external `$ref`s, `content`-typed or
 * deepObject/object parameters, several `{params}` in one path segment.
 * Not enforced, and said so in a load-time warning: cookie parameters.
 *
 * Schemas: 3.1 is JSON Schema 2020-12 already; 3.0's dialect differences are converted
 * (OAS 3.0.3 §4.7.24: `nullable`, boolean `exclusiveMinimum`/`exclusiveMaximum`;
 * `$ref` siblings are ignored). `x-` extensions and OAS annotations are dropped.
 * `#/components/schemas/X` refs point into one `$defs` schema added to the policy's ajv,
 * so recursive schemas (trees, linked lists) work without inlining.
 */
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import YAML from 'yaml';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import type { Logger } from 'pino';
import { Checker, type CheckerSpec, type MediaCheck, type PartCheck } from './checker.ts';
import { shapeOf, type ParamShape } from './coerce.ts';
import { PathMatcher } from './path-match.ts';

type Obj = Record<string, any>;

const ROOT = 'urn:gatehouse:openapi';
const SCHEMA_REF = '#/components/schemas/';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Keys whose value is a schema, a list of schemas, or a map of schemas (JSON Schema 2020-12 applicators). */
const ONE = new Set(['additionalProperties', 'items', 'not', 'contains', 'if', 'then', 'else', 'propertyNames', 'unevaluatedItems', 'unevaluatedProperties', 'contentSchema']);
const LIST = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);
const MAP = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);
const DROP = new Set(['example', 'xml', 'externalDocs', 'discriminator', 'nullable']);

export interface OpenApiLimits { maxBodySize: number; maxDepth: number; restore: boolean }
export type Operations = Map<string, Checker>;

/**
 * Read a YAML or JSON file relative to baseDir. Both go through the YAML parser (JSON is
 * YAML 1.2), which refuses duplicate keys where JSON.parse would keep the last one.
 */
export function loadOpenApi(file: string, baseDir: string): unknown {
  const text = readFileSync(resolvePath(baseDir, file), 'utf8');
  return YAML.parse(text, { maxAliasCount: 100, uniqueKeys: true });
}

export class OpenApiCompiler {
  private readonly doc: Obj;
  private readonly v30: boolean;
  private readonly ajv: Ajv2020;
  private readonly logger: Logger;
  private readonly defs: Obj = {};

  constructor(doc: unknown, ajv: Ajv2020, logger: Logger) {
    if (!doc || typeof doc !== 'object' || typeof (doc as Obj).openapi !== 'string' || !/^3\.[01]\./.test((doc as Obj).openapi)) {
      throw new Error('not an OpenAPI 3.0 or 3.1 document (missing or unsupported "openapi" version)');
    }
    this.doc = doc as Obj;
    this.v30 = (doc as Obj).openapi.startsWith('3.0');
    this.ajv = ajv;
    this.logger = logger;
  }

  compile(limits: OpenApiLimits): PathMatcher<Operations> {
    const schemas: Obj = this.doc.components?.schemas ?? {};
    for (const [name, s] of Object.entries(schemas)) this.defs[name] = this.convert(s, `components.schemas.${name}`);
    this.ajv.addSchema({ $id: ROOT, $defs: this.defs });
    const matcher = new PathMatcher<Operations>();
    let cookies = 0;
    for (const [template, rawItem] of Object.entries<Obj>(this.doc.paths ?? {})) {
      const item = this.deref(rawItem, `paths.${template}`);
      const ops: Operations = new Map();
      const declared: Array<[string, string]> = [];
      for (const method of METHODS) {
        const op = item[method] as Obj | undefined;
        if (!op) continue;
        const where = `paths.${template}.${method}`;
        const params = this.mergeParams(item.parameters, op.parameters, where);
        for (const p of params) {
          if (p.in === 'cookie') cookies++;
          else if (p.in === 'path') declared.push([where, p.name]);
        }
        ops.set(method.toUpperCase(), new Checker(this.operation(params, op.requestBody, where, limits)));
      }
      const names = matcher.add(template, ops);
      for (const [where, name] of declared) {
        if (!names.includes(name)) throw new Error(`${where}: path parameter "${name}" is not in the path template`);
      }
    }
    if (cookies) this.logger.warn({ parameters: cookies }, 'openapi: cookie parameters are not validated');
    return matcher;
  }

  /** Path-level parameters, overridden by operation-level ones with the same name and location. */
  private mergeParams(pathLevel: unknown, opLevel: unknown, where: string): Obj[] {
    const out = new Map<string, Obj>();
    for (const list of [pathLevel, opLevel]) {
      if (list === undefined) continue;
      if (!Array.isArray(list)) throw new Error(`${where}.parameters must be a list`);
      list.forEach((raw, i) => {
        const p = this.deref(raw, `${where}.parameters[${i}]`);
        if (typeof p.name !== 'string' || !['query', 'path', 'header', 'cookie'].includes(p.in)) throw new Error(`${where}.parameters[${i}]: needs a name and in: query | path | header | cookie`);
        out.set(`${p.in}:${p.in === 'header' ? p.name.toLowerCase() : p.name}`, p);
      });
    }
    return [...out.values()];
  }

  private operation(params: Obj[], rawBody: unknown, where: string, limits: OpenApiLimits): CheckerSpec {
    const parts: Record<'query' | 'path' | 'header', { props: Obj; required: string[]; shapes: ParamShape[] }> = {
      query: { props: {}, required: [], shapes: [] },
      path: { props: {}, required: [], shapes: [] },
      header: { props: {}, required: [], shapes: [] },
    };
    for (const p of params) {
      if (p.in === 'cookie') continue;
      const pw = `${where} parameter ${p.in}:${p.name}`;
      let name: string = p.name;
      if (p.in === 'header') {
        name = name.toLowerCase();
        // OAS 3.1 §4.8.12.1: these header parameters "SHALL be ignored" (described elsewhere).
        if (name === 'accept' || name === 'content-type' || name === 'authorization') continue;
      }
      if (p.content !== undefined || p.schema === undefined) throw new Error(`${pw}: only parameters with a schema are supported`);
      const schema = this.convert(p.schema, pw);
      const split = this.delimiter(p, pw, schema);
      const part = parts[p.in as 'query' | 'path' | 'header'];
      part.props[name] = schema;
      if (p.required === true || p.in === 'path') part.required.push(name);
      part.shapes.push(shapeOf(name, schema, split, p.in === 'header', (ref) => this.resolveSchemaRef(ref)));
    }
    const part = (k: 'query' | 'path' | 'header', names: boolean): PartCheck | undefined => {
      const x = parts[k];
      if (!x.shapes.length) return undefined;
      const validate = this.ajv.compile({ type: 'object', properties: x.props, required: x.required });
      return { validate, shapes: x.shapes, names: names ? Object.keys(x.props) : undefined };
    };
    const spec: CheckerSpec = {
      query: part('query', false),
      params: part('path', false),
      headers: part('header', true),
      media: [],
      bodyRequired: false,
      ...limits,
    };
    if (rawBody !== undefined) {
      const body = this.deref(rawBody, `${where}.requestBody`);
      const media: MediaCheck[] = [];
      for (const [range, m] of Object.entries<Obj>(body.content ?? {})) {
        const validate = m?.schema === undefined ? undefined : this.ajv.compile(this.convert(m.schema, `${where}.requestBody.content.${range}`));
        media.push({ range: range.toLowerCase().split(';')[0]!.trim(), validate });
      }
      spec.media = media;
      spec.bodyRequired = body.required === true;
    }
    return spec;
  }

  /** The delimiter that splits one array value (OAS 3.1 §4.8.12.4 style values). */
  private delimiter(p: Obj, where: string, schema: Obj): string {
    const shape = shapeOf('', schema, ',', false, (ref) => this.resolveSchemaRef(ref));
    const isObject = this.topType(schema) === 'object';
    if (p.in === 'query') {
      const style = p.style ?? 'form';
      const explode = p.explode ?? style === 'form';
      if (isObject || style === 'deepObject') throw new Error(`${where}: object-valued query parameters are not supported`);
      if (!shape.array) return '';
      if (explode) return '';
      if (style === 'form') return ',';
      if (style === 'spaceDelimited') return ' ';
      if (style === 'pipeDelimited') return '|';
      throw new Error(`${where}: style ${String(style)} is not supported`);
    }
    if (isObject) throw new Error(`${where}: object-valued ${p.in} parameters are not supported`);
    const style = p.style ?? 'simple';
    if (style !== 'simple') throw new Error(`${where}: style ${String(style)} is not supported`);
    return ',';
  }

  private topType(schema: Obj): unknown {
    let s: Obj | undefined = schema;
    for (let hops = 0; s && typeof s.$ref === 'string' && hops < 16; hops++) s = this.resolveSchemaRef(s.$ref) as Obj | undefined;
    return s?.type;
  }

  /** `urn:gatehouse:openapi#/$defs/Name[/more]` → the converted schema. */
  private resolveSchemaRef(ref: string): unknown {
    if (!ref.startsWith(`${ROOT}#/$defs/`)) return undefined;
    let cur: any = this.defs;
    for (const raw of ref.slice(ROOT.length + 8).split('/')) {
      cur = cur?.[raw.replaceAll('~1', '/').replaceAll('~0', '~')];
    }
    return cur;
  }

  /** Follow `$ref` for non-schema objects (parameters, request bodies, path items). Local refs only. */
  private deref(v: unknown, where: string): Obj {
    let cur = v as Obj;
    for (let hops = 0; cur && typeof cur === 'object' && typeof cur.$ref === 'string'; hops++) {
      if (hops >= 16) throw new Error(`${where}: $ref chain too long or circular`);
      cur = this.pointer(cur.$ref, where);
    }
    if (!cur || typeof cur !== 'object' || Array.isArray(cur)) throw new Error(`${where}: must be an object`);
    return cur;
  }

  private pointer(ref: string, where: string): Obj {
    if (!ref.startsWith('#/')) throw new Error(`${where}: only local $refs (#/...) are supported, not ${JSON.stringify(ref)}`);
    let cur: any = this.doc;
    for (const raw of ref.slice(2).split('/')) {
      const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
      if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) throw new Error(`${where}: $ref ${JSON.stringify(ref)} does not resolve`);
      cur = cur[key];
    }
    return cur;
  }

  /** OpenAPI schema object → JSON Schema 2020-12 (see the file comment). Returns a new object. */
  private convert(s: unknown, where: string): any {
    if (typeof s === 'boolean') return s;
    if (!s || typeof s !== 'object' || Array.isArray(s)) throw new Error(`${where}: a schema must be an object`);
    const src = s as Obj;
    if (typeof src.$ref === 'string') {
      const ref = src.$ref;
      if (!ref.startsWith(SCHEMA_REF)) throw new Error(`${where}: only $refs to #/components/schemas/... are supported in schemas, not ${JSON.stringify(ref)}`);
      const target = `${ROOT}#/$defs/${ref.slice(SCHEMA_REF.length)}`;
      this.pointer(ref, where); // must resolve
      if (this.v30) return { $ref: target }; // OAS 3.0: siblings of $ref are ignored
    }
    const out: Obj = {};
    for (const [k, v] of Object.entries(src)) {
      if (k.startsWith('x-') || DROP.has(k)) continue;
      if (k === '$ref') out.$ref = `${ROOT}#/$defs/${(v as string).slice(SCHEMA_REF.length)}`;
      else if (ONE.has(k) && typeof v === 'object' && v !== null && !Array.isArray(v)) out[k] = this.convert(v, `${where}.${k}`);
      else if (k === 'items' && Array.isArray(v)) out.prefixItems = v.map((x, i) => this.convert(x, `${where}.items[${i}]`));
      else if (LIST.has(k) && Array.isArray(v)) out[k] = v.map((x, i) => this.convert(x, `${where}.${k}[${i}]`));
      else if (MAP.has(k) && typeof v === 'object' && v !== null) out[k] = Object.fromEntries(Object.entries(v).map(([n, x]) => [n, this.convert(x, `${where}.${k}.${n}`)]));
      else out[k] = v;
    }
    if (typeof out.format === 'string') this.knownFormat(out.format);
    if (this.v30) {
      if (src.nullable === true) {
        if (typeof out.type === 'string') out.type = [out.type, 'null'];
        if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
      }
      for (const [flag, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
        if (typeof out[flag] !== 'boolean') continue;
        if (out[flag] && typeof out[bound] === 'number') { out[flag] = out[bound]; delete out[bound]; } else delete out[flag];
      }
    }
    return out;
  }

  /** Formats are open in OpenAPI (OAS 3.1 §4.4): unknown ones are annotations, accepted with a warning. */
  private knownFormat(f: string): void {
    if (this.ajv.formats[f] !== undefined) return;
    this.ajv.addFormat(f, true);
    this.logger.warn({ format: f }, 'openapi: unknown format is not validated');
  }
}
