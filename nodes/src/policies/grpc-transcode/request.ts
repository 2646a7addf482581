/**
 * From an HTTP request to the gRPC request message (google/api/http.proto, "HTTP rules"):
 * the body (all of it, or one field), then the path variables, then every query parameter
 * not bound otherwise (`a.b.c=1`, repeated by repeating the name). Values are gathered as
 * JSON and converted once by the strict proto3 JSON mapping, so the checks and error paths
 * are the same whichever part of the request a field came from.
 */
import protobuf from 'protobufjs';
import { fieldByName, messageFromJson, type FieldInfo, type Issue } from '../../protos/json.ts';
import { STRING_FORM, type Binding } from './bindings.ts';
import { decodeVar } from './template.ts';

export interface PartIssue { in: 'path' | 'query' | 'body'; path: string; message: string }

export interface QueryOptions {
  /** Parameters the transcoder leaves alone (an API key read by key-auth, say). */
  ignore: ReadonlySet<string>;
  /** Ignore every parameter that names no field instead of answering 400. */
  ignoreUnknown: boolean;
}

const BOOL_TYPES = new Set(['.google.protobuf.BoolValue']);

/** A string from a path or the query as the JSON the field expects (only booleans differ). */
function textValue(f: FieldInfo, s: string): unknown {
  if (f.scalar === 'bool' || (f.msg && BOOL_TYPES.has(f.msg.fullName))) return s === 'true' ? true : s === 'false' ? false : s;
  return s;
}

function setChain(obj: Record<string, unknown>, chain: readonly FieldInfo[], value: unknown, append: boolean): boolean {
  let cur = obj;
  for (let i = 0; i < chain.length - 1; i++) {
    const k = chain[i]!.name;
    let next = cur[k];
    if (next === undefined || next === null) cur[k] = next = {};
    if (typeof next !== 'object' || Array.isArray(next)) return false;
    cur = next as Record<string, unknown>;
  }
  const leaf = chain[chain.length - 1]!.name;
  if (append) {
    const a = cur[leaf];
    if (Array.isArray(a)) a.push(value); else cur[leaf] = [value];
  } else cur[leaf] = value;
  return true;
}

function chainKey(chain: readonly FieldInfo[]): string {
  let s = '';
  for (const f of chain) s = s ? `${s}.${f.name}` : f.name;
  return s;
}

/** `a.b.c` of a query parameter → its field chain, or a reason it cannot be set from a query. */
function queryChain(t: protobuf.Type, name: string): FieldInfo[] | string {
  const parts = name.split('.');
  const out: FieldInfo[] = [];
  let cur: protobuf.Type | undefined = t;
  for (let i = 0; i < parts.length; i++) {
    const f: FieldInfo | undefined = cur ? fieldByName(cur, parts[i]!) : undefined;
    if (!f) return 'unknown field';
    out.push(f);
    if (i < parts.length - 1) {
      if (!f.msg || f.repeated || f.map || STRING_FORM.has(f.msg.fullName)) return 'unknown field';
      cur = f.msg;
    }
  }
  const leaf = out[out.length - 1]!;
  if (leaf.map || (leaf.msg && !STRING_FORM.has(leaf.msg.fullName))) return 'cannot be set from the query string (a message or map field)';
  return out;
}

export interface Built { message: Record<string, unknown> }

/**
 * Build the request message. `body` is the parsed JSON body (undefined: none), or for a
 * raw HttpBody binding the bytes and `contentType`.
 */
export function buildMessage(
  b: Binding, groups: RegExpExecArray, query: URLSearchParams | undefined, body: unknown,
  raw: { data: Buffer; contentType: string } | undefined, q: QueryOptions, root: protobuf.Root,
): Built | PartIssue[] {
  const issues: PartIssue[] = [];
  const t = b.method.requestType;
  let obj: Record<string, unknown> = {};
  const bodyPrefix = b.body && b.body !== '*' ? chainKey(b.body) : '';
  if (b.body === '*' && !b.rawBody && body !== undefined) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return [{ in: 'body', path: '', message: 'must be a JSON object' }];
    obj = body as Record<string, unknown>;
  } else if (b.body && b.body !== '*' && !b.rawBody && body !== undefined) {
    setChain(obj, b.body, body, false);
  }
  const bound = new Map<string, 'path' | 'query'>();
  for (let i = 0; i < b.vars.length; i++) {
    const chain = b.vars[i]!;
    const v = decodeVar(groups[i + 1]!);
    if (v === undefined) { issues.push({ in: 'path', path: chainKey(chain), message: 'bad percent-encoding' }); continue; }
    // The path wins over the same field in a `body: "*"` (it is what the URL names).
    if (!setChain(obj, chain, textValue(chain[chain.length - 1]!, v), false)) issues.push({ in: 'path', path: chainKey(chain), message: 'conflicts with the body' });
    bound.set(chainKey(chain), 'path');
  }
  // With body "*" every field comes from the body or the path: there are no query fields.
  if (query && b.body !== '*') {
    const seen = new Set<string>();
    for (const [name, value] of query) {
      if (q.ignore.has(name)) continue;
      const chain = queryChain(t, name);
      if (typeof chain === 'string') { if (!q.ignoreUnknown) issues.push({ in: 'query', path: name, message: chain }); continue; }
      const key = chainKey(chain);
      if (bound.get(key) === 'path' || (bodyPrefix && (key === bodyPrefix || key.startsWith(bodyPrefix + '.')))) {
        issues.push({ in: 'query', path: name, message: 'is bound by the path or body' });
        continue;
      }
      const leaf = chain[chain.length - 1]!;
      if (!leaf.repeated && seen.has(key)) { issues.push({ in: 'query', path: name, message: 'given more than once for a field that is not repeated' }); continue; }
      seen.add(key);
      if (!setChain(obj, chain, textValue(leaf, value), leaf.repeated)) issues.push({ in: 'query', path: name, message: 'conflicts with another parameter' });
      bound.set(key, 'query');
    }
  } else if (query && b.body === '*') {
    for (const [name] of query) if (!q.ignore.has(name) && !q.ignoreUnknown) issues.push({ in: 'query', path: name, message: 'not allowed: this method takes every field from the body' });
  }
  if (issues.length) return issues;
  const out: Issue[] = [];
  const message = messageFromJson(t, obj, '', out, root);
  if (out.length || !message) {
    return out.map((i) => {
      for (const [k, where] of bound) if (i.path === k || i.path.startsWith(k + '.') || i.path.startsWith(k + '[')) return { in: where, path: i.path, message: i.message };
      const p = bodyPrefix && i.path.startsWith(bodyPrefix) ? i.path.slice(bodyPrefix.length).replace(/^\./, '') : i.path;
      return { in: 'body' as const, path: p, message: i.message };
    });
  }
  if (raw) {
    const hb = { content_type: raw.contentType, data: raw.data };
    if (b.body === '*') return { message: hb };
    setChain(message, b.body as FieldInfo[], hb, false);
  }
  return { message };
}
