/**
 * HTTP bindings of gRPC methods, compiled from google.api.http rules at config time:
 * every method's rule and its additional_bindings, or (no rule) `POST /pkg.Service/Method`
 * with the whole message as the body. Field paths named by templates, `body` and
 * `response_body` are resolved here, so a typo is a config error, not a request's 500.
 */
import protobuf from 'protobufjs';
import { fieldByName, type FieldInfo } from '../../protos/json.ts';
import { compileTemplate, type CompiledTemplate } from './template.ts';

export interface MethodInfo {
  /** `/pkg.Service/Method`: the gRPC path. */
  path: string;
  fullName: string;
  requestType: protobuf.Type;
  responseType: protobuf.Type;
  clientStream: boolean;
  serverStream: boolean;
}

export interface Binding {
  httpMethod: string;
  tpl: CompiledTemplate;
  method: MethodInfo;
  /** Field chains of the template's variables (capture-group order). */
  vars: FieldInfo[][];
  /** undefined: no body; '*': the whole message; else the chain of the field the body fills. */
  body: undefined | '*' | FieldInfo[];
  /** The body is raw bytes for a google.api.HttpBody (the request type itself or the body field). */
  rawBody: boolean;
  responseBody: FieldInfo | undefined;
  /** The response (or its response_body field) is a google.api.HttpBody: answered raw. */
  rawResponse: boolean;
}

const HTTP_BODY = '.google.api.HttpBody';
/** Message types that a path or query string value can fill (their JSON form is a string or scalar). */
export const STRING_FORM = new Set(['.google.protobuf.Timestamp', '.google.protobuf.Duration', '.google.protobuf.FieldMask',
  ...['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map((w) => `.google.protobuf.${w}Value`)]);

/** Resolve `a.b.c` in `t`; every step but the last a singular message. Throws with the reason. */
export function resolveChain(t: protobuf.Type, path: readonly string[], what: string): FieldInfo[] {
  const out: FieldInfo[] = [];
  let cur: protobuf.Type | undefined = t;
  for (let i = 0; i < path.length; i++) {
    const f: FieldInfo | undefined = cur ? fieldByName(cur, path[i]!) : undefined;
    if (!f) throw new Error(`${what}: no field "${path.slice(0, i + 1).join('.')}" in ${t.fullName.slice(1)}`);
    if (i < path.length - 1 && (!f.msg || f.repeated || f.map)) throw new Error(`${what}: "${path.slice(0, i + 1).join('.')}" is not a singular message field`);
    out.push(f);
    cur = f.msg;
  }
  return out;
}

function leafCheck(chain: FieldInfo[], what: string): void {
  const f = chain[chain.length - 1]!;
  if (f.map || f.repeated) throw new Error(`${what}: "${chain.map((c) => c.name).join('.')}" is repeated; a path variable must be a singular field`);
  if (f.msg && !STRING_FORM.has(f.msg.fullName)) throw new Error(`${what}: "${chain.map((c) => c.name).join('.')}" is a message; a path variable must be a scalar, enum or well-known type with a string form`);
}

interface RawRule { get?: string; put?: string; post?: string; delete?: string; patch?: string; custom?: { kind?: string; path?: string }; body?: string; response_body?: string; additional_bindings?: RawRule | RawRule[] }

function ruleOf(m: protobuf.Method): RawRule | undefined {
  for (const o of m.parsedOptions ?? []) {
    const r = (o as Record<string, unknown>)['(google.api.http)'];
    if (r) return r as RawRule;
  }
  return undefined;
}

export function methodInfo(svc: protobuf.Service, m: protobuf.Method): MethodInfo {
  m.resolve();
  return {
    path: `/${svc.fullName.slice(1)}/${m.name}`,
    fullName: `${svc.fullName.slice(1)}.${m.name}`,
    requestType: m.resolvedRequestType!,
    responseType: m.resolvedResponseType!,
    clientStream: !!m.requestStream,
    serverStream: !!m.responseStream,
  };
}

function bindingOf(rule: RawRule, mi: MethodInfo, where: string): Binding {
  let httpMethod: string | undefined, tplText: string | undefined;
  for (const k of ['get', 'put', 'post', 'delete', 'patch'] as const) {
    if (typeof rule[k] === 'string') { httpMethod = k.toUpperCase(); tplText = rule[k]; }
  }
  if (rule.custom) { httpMethod = String(rule.custom.kind ?? '').toUpperCase(); tplText = rule.custom.path; }
  if (!httpMethod || !/^[A-Z]{1,16}$/.test(httpMethod) || typeof tplText !== 'string') throw new Error(`${where}: the http rule needs one of get, put, post, delete, patch or custom {kind, path}`);
  const tpl = compileTemplate(tplText);
  const vars = tpl.vars.map((v) => {
    const chain = resolveChain(mi.requestType, v.path, `${where} "${tplText}"`);
    leafCheck(chain, `${where} "${tplText}"`);
    return chain;
  });
  let body: Binding['body'];
  let rawBody = false;
  if (rule.body === '*') { body = '*'; rawBody = mi.requestType.fullName === HTTP_BODY; } else if (rule.body) {
    body = resolveChain(mi.requestType, rule.body.split('.'), `${where} body`);
    const leaf = body[body.length - 1]!;
    rawBody = leaf.msg?.fullName === HTTP_BODY && !leaf.repeated;
  }
  let responseBody: FieldInfo | undefined;
  if (rule.response_body) {
    const chain = resolveChain(mi.responseType, [rule.response_body], `${where} response_body`);
    responseBody = chain[0];
  }
  const rawResponse = responseBody ? responseBody.msg?.fullName === HTTP_BODY && !responseBody.repeated : mi.responseType.fullName === HTTP_BODY;
  return { httpMethod, tpl, method: mi, vars, body, rawBody, responseBody, rawResponse };
}

/** Every binding of the service's methods. Throws an Error naming the method on a bad rule. */
export function serviceBindings(svc: protobuf.Service): Binding[] {
  const out: Binding[] = [];
  for (const m of svc.methodsArray) {
    const mi = methodInfo(svc, m);
    const where = `method ${mi.fullName}`;
    const rule = ruleOf(m);
    if (!rule) {
      out.push(bindingOf({ post: mi.path, body: '*' }, mi, where));
      continue;
    }
    out.push(bindingOf(rule, mi, where));
    const extra = rule.additional_bindings;
    for (const r of extra === undefined ? [] : Array.isArray(extra) ? extra : [extra]) {
      if (r.additional_bindings) throw new Error(`${where}: additional_bindings may not nest`);
      out.push(bindingOf(r, mi, where));
    }
  }
  return out;
}

/** Per HTTP method, the bindings most specific first (more literal segments, then declaration order). */
export class BindingTable {
  private readonly byMethod = new Map<string, Binding[]>();
  constructor(bindings: Binding[]) {
    for (const b of bindings) {
      let a = this.byMethod.get(b.httpMethod);
      if (!a) this.byMethod.set(b.httpMethod, a = []);
      a.push(b);
    }
    for (const a of this.byMethod.values()) a.sort((x, y) => y.tpl.literals - x.tpl.literals);
  }

  match(method: string, path: string): { b: Binding; m: RegExpExecArray } | undefined {
    const a = this.byMethod.get(method);
    if (!a) return undefined;
    for (let i = 0; i < a.length; i++) {
      const b = a[i]!;
      const m = b.tpl.regex.exec(path);
      if (m) return { b, m };
    }
    return undefined;
  }

  /** Methods that would match this path (for 405 + Allow). */
  allowed(path: string): string[] {
    const out: string[] = [];
    for (const [k, a] of this.byMethod) if (a.some((b) => b.tpl.regex.test(path))) out.push(k);
    return out;
  }
}
