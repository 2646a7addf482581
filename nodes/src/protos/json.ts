/**
 * The canonical proto3 JSON mapping (https://protobuf.dev/programming-guides/json/), on top
 * of protobufjs reflection. protobufjs's own toObject/fromObject are not used: fromObject
 * accepts anything (unknown fields, wrong types are silently dropped or coerced) and neither
 * knows the well-known types' JSON forms (Timestamp as RFC 3339, Duration as "1.5s", ...).
 *
 * fromJson checks strictly and reports every problem with its path (`user.age: must be an
 * integer`); its output is a plain object protobufjs's encoder takes (64-bit integers as
 * decimal strings, bytes as Buffers, enums as numbers). toJson reads a decoded message.
 * Per-type field tables are built once and cached (config time, not request time).
 */
import protobuf from 'protobufjs';

export interface Issue { path: string; message: string }
export interface PrintOptions {
  /** Use the names as in the .proto (`display_name`) instead of lowerCamel (`displayName`). */
  protoNames: boolean;
  /** Print fields that have their default value (0, "", false, empty lists). */
  defaults: boolean;
}

interface FieldInfo {
  field: protobuf.Field;
  name: string;
  json: string;
  scalar: string | undefined;
  enm: protobuf.Enum | undefined;
  msg: protobuf.Type | undefined;
  repeated: boolean;
  map: boolean;
  keyType: string;
  oneof: string | undefined;
  /** proto3 `optional`, or a oneof member, or a message: printed whenever present. */
  presence: boolean;
}

interface TypeInfo { fields: FieldInfo[]; byName: Map<string, FieldInfo> }
const infos = new WeakMap<protobuf.Type, TypeInfo>();

export function lowerCamel(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function info(t: protobuf.Type): TypeInfo {
  let i = infos.get(t);
  if (i) return i;
  const fields: FieldInfo[] = [];
  const byName = new Map<string, FieldInfo>();
  for (const f of t.fieldsArray) {
    f.resolve();
    const r = f.resolvedType;
    const oneof = f.partOf && !f.partOf.name.startsWith('_') ? f.partOf.name : undefined;
    const fi: FieldInfo = {
      field: f,
      name: f.name,
      json: (f.options?.json_name as string | undefined) ?? lowerCamel(f.name),
      scalar: r ? undefined : f.type,
      enm: r instanceof protobuf.Enum ? r : undefined,
      msg: r instanceof protobuf.Type ? r : undefined,
      repeated: f.repeated,
      map: f.map,
      keyType: (f as unknown as protobuf.MapField).keyType ?? '',
      oneof,
      presence: !!f.partOf || r instanceof protobuf.Type,
    };
    fields.push(fi);
    byName.set(fi.json, fi);
    byName.set(fi.name, fi);
  }
  i = { fields, byName };
  infos.set(t, i);
  return i;
}

export function fieldByName(t: protobuf.Type, name: string): FieldInfo | undefined {
  return info(t).byName.get(name);
}
export type { FieldInfo };

const at = (path: string, key: string): string => (path ? `${path}.${key}` : key);
const MAX_DEPTH = 64;

// ---------------------------------------------------------------------------------------
// JSON → message

const INT = /^-?(0|[1-9][0-9]*)$/;
const UINT = /^(0|[1-9][0-9]*)$/;
const B64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const I64_MIN = -(2n ** 63n), I64_MAX = 2n ** 63n - 1n, U64_MAX = 2n ** 64n - 1n;

function scalarFromJson(type: string, v: unknown, path: string, out: Issue[]): unknown {
  switch (type) {
    case 'string':
      if (typeof v === 'string') return v;
      break;
    case 'bool':
      if (typeof v === 'boolean') return v;
      break;
    case 'int32': case 'sint32': case 'sfixed32': case 'uint32': case 'fixed32': {
      const unsigned = type === 'uint32' || type === 'fixed32';
      const n = typeof v === 'number' ? v : typeof v === 'string' && (unsigned ? UINT : INT).test(v) ? Number(v) : NaN;
      if (!Number.isInteger(n)) { out.push({ path, message: `must be an integer (${type})` }); return undefined; }
      if (unsigned ? n < 0 || n > 0xffffffff : n < -0x80000000 || n > 0x7fffffff) { out.push({ path, message: `out of range for ${type}` }); return undefined; }
      return n;
    }
    case 'int64': case 'sint64': case 'sfixed64': case 'uint64': case 'fixed64': {
      const unsigned = type === 'uint64' || type === 'fixed64';
      let b: bigint | undefined;
      if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
      else if (typeof v === 'string' && (unsigned ? UINT : INT).test(v)) b = BigInt(v);
      if (b === undefined) { out.push({ path, message: `must be an integer (${type}, a JSON string or number)` }); return undefined; }
      if (unsigned ? b < 0n || b > U64_MAX : b < I64_MIN || b > I64_MAX) { out.push({ path, message: `out of range for ${type}` }); return undefined; }
      return b.toString(); // protobufjs's writer takes decimal strings for 64-bit fields
    }
    case 'double': case 'float': {
      let n: number;
      if (typeof v === 'number') n = v;
      else if (v === 'NaN') return NaN;
      else if (v === 'Infinity') return Infinity;
      else if (v === '-Infinity') return -Infinity;
      else if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) n = Number(v);
      else { out.push({ path, message: `must be a number (${type})` }); return undefined; }
      if (type === 'float' && Math.abs(n) > 3.4028234663852886e38) { out.push({ path, message: 'out of range for float' }); return undefined; }
      return n;
    }
    case 'bytes':
      if (typeof v === 'string' && B64.test(v) && v.replace(/=+$/, '').length % 4 !== 1) return Buffer.from(v, 'base64');
      out.push({ path, message: 'must be base64 (standard or URL-safe)' });
      return undefined;
  }
  out.push({ path, message: `must be a ${type === 'bool' ? 'boolean' : 'string'}` });
  return undefined;
}

function enumFromJson(e: protobuf.Enum, v: unknown, path: string, out: Issue[]): unknown {
  if (typeof v === 'string') {
    // Own properties only: protobufjs's `values` inherits from `valuesById` (number → name).
    if (Object.prototype.hasOwnProperty.call(e.values, v)) return e.values[v];
    if (INT.test(v)) return Number(v);
    out.push({ path, message: `unknown value "${v.length > 64 ? v.slice(0, 64) + '…' : v}" of enum ${e.name}` });
    return undefined;
  }
  if (typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) return v; // proto3 enums are open
  out.push({ path, message: `must be a name or number of enum ${e.name}` });
  return undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One value of field `f` (not a list or map). */
function valueFromJson(f: FieldInfo, v: unknown, path: string, out: Issue[], root: protobuf.Root, depth: number): unknown {
  if (f.scalar) return scalarFromJson(f.scalar, v, path, out);
  if (f.enm) {
    if (f.enm.fullName === '.google.protobuf.NullValue') return 0;
    return enumFromJson(f.enm, v, path, out);
  }
  return messageFromJson(f.msg!, v, path, out, root, depth + 1);
}

/** A JSON value as message type `t`; undefined (with issues) when it does not fit. */
export function messageFromJson(t: protobuf.Type, v: unknown, path: string, out: Issue[], root: protobuf.Root, depth = 0): Record<string, unknown> | undefined {
  // Recursive message types could otherwise recurse as deep as a hostile body nests.
  if (depth > MAX_DEPTH) { out.push({ path, message: `nested deeper than ${MAX_DEPTH} messages` }); return undefined; }
  const wkt = WKT_FROM[t.fullName];
  if (wkt) return wkt(t, v, path, out, root);
  if (!isObject(v)) { out.push({ path, message: 'must be an object' }); return undefined; }
  const ti = info(t);
  const msg: Record<string, unknown> = {};
  let oneofs: Map<string, string> | undefined;
  for (const key in v) {
    const f = ti.byName.get(key);
    const p = at(path, key);
    if (!f) { out.push({ path: p, message: 'unknown field' }); continue; }
    const val = v[key];
    // null means "the default" for every field but google.protobuf.Value (and NullValue).
    if (val === null && !(f.msg?.fullName === '.google.protobuf.Value' && !f.repeated && !f.map) && f.enm?.fullName !== '.google.protobuf.NullValue') continue;
    if (f.oneof) {
      const prev = (oneofs ??= new Map()).get(f.oneof);
      if (prev !== undefined && prev !== f.name) { out.push({ path: p, message: `only one of the "${f.oneof}" fields may be set (also "${prev}")` }); continue; }
      oneofs.set(f.oneof, f.name);
    }
    if (f.name in msg) { out.push({ path: p, message: 'set twice (by its JSON name and its proto name)' }); continue; }
    if (f.map) {
      if (!isObject(val)) { out.push({ path: p, message: 'must be an object (a map)' }); continue; }
      const m: Record<string, unknown> = Object.create(null); // a "__proto__" key is just a key
      for (const k in val) {
        const key = mapKey(f.keyType, k, `${p}[${JSON.stringify(k)}]`, out);
        if (key === undefined) continue;
        const x = valueFromJson(f, val[k], `${p}[${JSON.stringify(k)}]`, out, root, depth);
        if (x !== undefined) m[key] = x;
      }
      msg[f.name] = m;
    } else if (f.repeated) {
      if (!Array.isArray(val)) { out.push({ path: p, message: 'must be an array' }); continue; }
      const a: unknown[] = [];
      for (let i = 0; i < val.length; i++) {
        if (val[i] === null && f.msg?.fullName !== '.google.protobuf.Value') { out.push({ path: `${p}[${i}]`, message: 'must not be null' }); continue; }
        const x = valueFromJson(f, val[i], `${p}[${i}]`, out, root, depth);
        if (x !== undefined) a.push(x);
      }
      msg[f.name] = a;
    } else {
      const x = valueFromJson(f, val, p, out, root, depth);
      if (x !== undefined) msg[f.name] = x;
    }
  }
  return msg;
}

function mapKey(type: string, k: string, path: string, out: Issue[]): string | undefined {
  if (type === 'string') return k;
  if (type === 'bool') {
    // protobufjs's encoder writes a map key with writer.bool(key): any non-empty string is
    // true, so "false" is passed as the empty string (falsy) to encode as false.
    if (k === 'true') return 'true';
    if (k === 'false') return '';
    out.push({ path, message: 'map key must be true or false' });
    return undefined;
  }
  const x = scalarFromJson(type, k, path, out);
  return x === undefined ? undefined : String(x);
}

// ---------------------------------------------------------------------------------------
// Well-known types (JSON → message)

type FromFn = (t: protobuf.Type, v: unknown, path: string, out: Issue[], root: protobuf.Root) => Record<string, unknown> | undefined;

const RFC3339 = /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$/;
const MIN_TS = -62135596800, MAX_TS = 253402300799; // 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z
const DURATION = /^(-)?([0-9]{1,12})(\.[0-9]{1,9})?s$/;
const MAX_DURATION = 315576000000;

function nanosOf(frac: string | undefined): number {
  return frac ? Number(frac.slice(1).padEnd(9, '0')) : 0;
}

function wrapper(t: protobuf.Type, v: unknown, path: string, out: Issue[]): Record<string, unknown> | undefined {
  const x = scalarFromJson(t.fields.value!.type, v, path, out);
  return x === undefined ? undefined : { value: x };
}

/**
 * Field names of google.protobuf.Value by number (1 null .. 6 list): protobufjs's bundled
 * struct.proto names them in lowerCamel (nullValue), a set's own copy in snake_case.
 */
const valueNames = new WeakMap<protobuf.Type, string[]>();
function vn(root: protobuf.Root): string[] {
  const vt = root.lookupType('google.protobuf.Value');
  let n = valueNames.get(vt);
  if (!n) { n = [1, 2, 3, 4, 5, 6].map((id) => vt.fieldsById[id]!.name); valueNames.set(vt, n); }
  return n;
}

function valueJson(v: unknown, path: string, out: Issue[], depth: number, root: protobuf.Root): Record<string, unknown> | undefined {
  if (depth > 100) { out.push({ path, message: 'nested too deep' }); return undefined; }
  const n = vn(root);
  if (v === null) return { [n[0]!]: 0 };
  switch (typeof v) {
    case 'number': return { [n[1]!]: v };
    case 'string': return { [n[2]!]: v };
    case 'boolean': return { [n[3]!]: v };
  }
  if (Array.isArray(v)) return { [n[5]!]: listJson(v, path, out, depth, root) };
  if (isObject(v)) return { [n[4]!]: structJson(v, path, out, depth, root) };
  out.push({ path, message: 'must be a JSON value' });
  return undefined;
}
function structJson(v: Record<string, unknown>, path: string, out: Issue[], depth: number, root: protobuf.Root): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const k in v) { const x = valueJson(v[k], at(path, k), out, depth + 1, root); if (x) fields[k] = x; }
  return { fields };
}
function listJson(v: unknown[], path: string, out: Issue[], depth: number, root: protobuf.Root): Record<string, unknown> {
  const values: unknown[] = [];
  for (let i = 0; i < v.length; i++) { const x = valueJson(v[i], `${path}[${i}]`, out, depth + 1, root); if (x) values.push(x); }
  return { values };
}

/** `a.b` of an Any's `@type` URL (the part after the last '/'), looked up in the set. */
export function anyType(root: protobuf.Root, url: string): protobuf.Type | undefined {
  const name = url.slice(url.lastIndexOf('/') + 1);
  if (!name) return undefined;
  try { return root.lookupType(name); } catch { return undefined; }
}

const WKT_FROM: Record<string, FromFn> = {
  '.google.protobuf.Timestamp': (_t, v, path, out) => {
    const m = typeof v === 'string' ? RFC3339.exec(v) : null;
    if (!m) { out.push({ path, message: 'must be an RFC 3339 timestamp like 2024-01-31T12:00:00Z' }); return undefined; }
    const d = new Date(0);
    d.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3])); // Date.UTC would map years 0..99 to 19xx
    d.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), 0);
    let secs = d.getTime() / 1000;
    const tz = m[8]!;
    if (tz !== 'Z' && tz !== 'z') secs -= (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 3600 + Number(tz.slice(4, 6)) * 60);
    if (d.getUTCDate() !== Number(m[3]) || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59) {
      out.push({ path, message: 'not a valid date and time' });
      return undefined;
    }
    if (secs < MIN_TS || secs > MAX_TS) {
      out.push({ path, message: 'timestamp out of range (0001-01-01 to 9999-12-31)' });
      return undefined;
    }
    return { seconds: String(secs), nanos: nanosOf(m[7]) };
  },
  '.google.protobuf.Duration': (_t, v, path, out) => {
    const m = typeof v === 'string' ? DURATION.exec(v) : null;
    if (!m || Number(m[2]) > MAX_DURATION) { out.push({ path, message: 'must be a duration like "1.5s" (seconds, up to 9 decimals)' }); return undefined; }
    const sign = m[1] ? -1 : 1;
    const secs = Number(m[2]), nanos = nanosOf(m[3]);
    return { seconds: String(sign * secs || 0), nanos: sign * nanos || 0 };
  },
  '.google.protobuf.FieldMask': (_t, v, path, out) => {
    if (typeof v !== 'string') { out.push({ path, message: 'must be a string of comma-separated field paths' }); return undefined; }
    const paths = v === '' ? [] : v.split(',').map((p) => p.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
    return { paths };
  },
  '.google.protobuf.Struct': (_t, v, path, out, root) => {
    if (!isObject(v)) { out.push({ path, message: 'must be an object' }); return undefined; }
    return structJson(v, path, out, 0, root);
  },
  '.google.protobuf.Value': (_t, v, path, out, root) => valueJson(v, path, out, 0, root),
  '.google.protobuf.ListValue': (_t, v, path, out, root) => {
    if (!Array.isArray(v)) { out.push({ path, message: 'must be an array' }); return undefined; }
    return listJson(v, path, out, 0, root);
  },
  '.google.protobuf.Empty': (_t, v, path, out) => {
    if (!isObject(v)) { out.push({ path, message: 'must be an object' }); return undefined; }
    for (const k in v) out.push({ path: at(path, k), message: 'unknown field' });
    return {};
  },
  '.google.protobuf.Any': (_t, v, path, out, root) => {
    if (!isObject(v)) { out.push({ path, message: 'must be an object' }); return undefined; }
    const url = v['@type'];
    if (typeof url !== 'string') { out.push({ path: at(path, '@type'), message: 'required: the type URL of the packed message' }); return undefined; }
    const inner = anyType(root, url);
    if (!inner) { out.push({ path: at(path, '@type'), message: `unknown type "${url.slice(0, 128)}" (not in the proto set)` }); return undefined; }
    let msg: Record<string, unknown> | undefined;
    if (WKT_FROM[inner.fullName]) {
      for (const k in v) if (k !== '@type' && k !== 'value') out.push({ path: at(path, k), message: 'unknown field' });
      msg = messageFromJson(inner, v.value, at(path, 'value'), out, root);
    } else {
      const { '@type': _ignored, ...rest } = v;
      msg = messageFromJson(inner, rest, path, out, root);
    }
    if (!msg) return undefined;
    return { type_url: url, value: inner.encode(msg).finish() };
  },
};
for (const w of ['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes']) {
  WKT_FROM[`.google.protobuf.${w}Value`] = (t, v, path, out) => wrapper(t, v, path, out);
}

// ---------------------------------------------------------------------------------------
// message → JSON

const isLong = (v: unknown): v is { toString(): string } => typeof v === 'object' && v !== null && 'low' in v && 'high' in v;

function scalarToJson(type: string, v: unknown): unknown {
  switch (type) {
    case 'int64': case 'sint64': case 'sfixed64': case 'uint64': case 'fixed64':
      return isLong(v) ? v.toString() : String(v);
    case 'double': case 'float':
      return Number.isFinite(v) ? v : String(v); // NaN, Infinity, -Infinity as strings
    case 'bytes':
      return Buffer.from(v as Uint8Array).toString('base64');
    default:
      return v;
  }
}

function isDefault(f: FieldInfo, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (f.map) return Object.keys(v as object).length === 0;
  if (f.repeated) return (v as unknown[]).length === 0;
  if (f.msg) return false;
  if (isLong(v)) return (v as unknown as { isZero(): boolean }).isZero();
  if (typeof v === 'string') return v === '';
  if (typeof v === 'number') return v === 0 && !Object.is(v, -0);
  if (typeof v === 'boolean') return !v;
  if (ArrayBuffer.isView(v as object)) return (v as Uint8Array).byteLength === 0;
  return false;
}

function valueToJson(f: FieldInfo, v: unknown, o: PrintOptions, root: protobuf.Root): unknown {
  if (f.scalar) return scalarToJson(f.scalar, v);
  if (f.enm) {
    if (f.enm.fullName === '.google.protobuf.NullValue') return null;
    return f.enm.valuesById[v as number] ?? v;
  }
  return messageToJson(f.msg!, v as Record<string, unknown>, o, root);
}

/** One field's value as JSON (for response_body): an unset message is null, an unset scalar its default. */
export function fieldToJson(f: FieldInfo, v: unknown, o: PrintOptions, root: protobuf.Root): unknown {
  if (v === undefined || v === null) {
    if (f.map) return {};
    if (f.repeated) return [];
    if (f.msg) return null;
    v = f.enm ? 0 : f.field.typeDefault;
  }
  if (f.map) {
    const src = v as Record<string, unknown>, dst: Record<string, unknown> = {};
    for (const k in src) dst[LONG_KEYS.has(f.keyType) ? longKey(k, f.keyType) : k] = valueToJson(f, src[k], o, root);
    return dst;
  }
  if (f.repeated) return (v as unknown[]).map((x) => valueToJson(f, x, o, root));
  return valueToJson(f, v, o, root);
}

/** A decoded message (or a plain object in the same shape) as proto3 JSON. */
export function messageToJson(t: protobuf.Type, m: Record<string, unknown>, o: PrintOptions, root: protobuf.Root): unknown {
  const wkt = WKT_TO[t.fullName];
  if (wkt) return wkt(t, m, o, root);
  const out: Record<string, unknown> = {};
  for (const f of info(t).fields) {
    const has = Object.prototype.hasOwnProperty.call(m, f.name);
    let v = has ? m[f.name] : undefined;
    if (f.presence && !f.repeated && !f.map) {
      if (!has || v === null || v === undefined) continue; // unset: never printed, not even with defaults
    } else if (isDefault(f, v)) {
      if (!o.defaults) continue;
      v = f.map ? {} : f.repeated ? [] : f.enm ? f.enm.valuesById[0] ?? 0 : f.field.typeDefault;
      if (f.scalar) { out[o.protoNames ? f.name : f.json] = scalarToJson(f.scalar, v); continue; }
    }
    const key = o.protoNames ? f.name : f.json;
    if (f.map) {
      const src = v as Record<string, unknown>, dst: Record<string, unknown> = {};
      const long = LONG_KEYS.has(f.keyType);
      for (const k in src) dst[long ? longKey(k, f.keyType) : k] = valueToJson(f, src[k], o, root);
      out[key] = dst;
    } else if (f.repeated) {
      out[key] = (v as unknown[]).map((x) => valueToJson(f, x, o, root));
    } else {
      out[key] = valueToJson(f, v, o, root);
    }
  }
  return out;
}

const LONG_KEYS = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
/** protobufjs decodes a 64-bit map key to an 8-character "long hash"; JSON wants the decimal. */
function longKey(k: string, type: string): string {
  if (k.length !== 8) return k; // already decimal (a plain object, not a decoded message)
  const u = protobuf.util as unknown as { longFromHash(h: string, unsigned: boolean): { toString(): string } };
  return u.longFromHash(k, type === 'uint64' || type === 'fixed64').toString();
}

type ToFn = (t: protobuf.Type, m: Record<string, unknown>, o: PrintOptions, root: protobuf.Root) => unknown;

function num(v: unknown): number {
  return isLong(v) ? Number(v.toString()) : Number(v ?? 0);
}

function fraction(nanos: number): string {
  if (nanos === 0) return '';
  const s = String(nanos).padStart(9, '0');
  return '.' + (s.endsWith('000000') ? s.slice(0, 3) : s.endsWith('000') ? s.slice(0, 6) : s);
}

function valueOut(m: Record<string, unknown>, o: PrintOptions, root: protobuf.Root): unknown {
  const n = vn(root);
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(m, k) && m[k] !== undefined && m[k] !== null;
  if (has(n[1]!)) return scalarToJson('double', m[n[1]!]);
  if (has(n[2]!)) return m[n[2]!];
  if (has(n[3]!)) return m[n[3]!];
  if (has(n[4]!)) return structOut(m[n[4]!] as Record<string, unknown>, o, root);
  if (has(n[5]!)) return listOut(m[n[5]!] as Record<string, unknown>, o, root);
  return null;
}
function structOut(m: Record<string, unknown>, o: PrintOptions, root: protobuf.Root): unknown {
  const out: Record<string, unknown> = {};
  const f = (m.fields ?? {}) as Record<string, Record<string, unknown>>;
  for (const k in f) out[k] = valueOut(f[k]!, o, root);
  return out;
}
function listOut(m: Record<string, unknown>, o: PrintOptions, root: protobuf.Root): unknown {
  return ((m.values ?? []) as Record<string, unknown>[]).map((x) => valueOut(x, o, root));
}

const WKT_TO: Record<string, ToFn> = {
  '.google.protobuf.Timestamp': (_t, m) => {
    const secs = num(m.seconds), nanos = num(m.nanos);
    const d = new Date(secs * 1000);
    if (Number.isNaN(d.getTime())) return null;
    const iso = d.toISOString(); // years 0..9999 keep 4 digits
    return `${iso.slice(0, 19)}${fraction(nanos)}Z`;
  },
  '.google.protobuf.Duration': (_t, m) => {
    const secs = num(m.seconds), nanos = num(m.nanos);
    const neg = secs < 0 || nanos < 0;
    return `${neg ? '-' : ''}${Math.abs(secs)}${fraction(Math.abs(nanos))}s`;
  },
  '.google.protobuf.FieldMask': (_t, m) => ((m.paths ?? []) as string[]).map(lowerCamel).join(','),
  '.google.protobuf.Struct': (_t, m, o, root) => structOut(m, o, root),
  '.google.protobuf.Value': (_t, m, o, root) => valueOut(m, o, root),
  '.google.protobuf.ListValue': (_t, m, o, root) => listOut(m, o, root),
  '.google.protobuf.Empty': () => ({}),
  '.google.protobuf.Any': (_t, m, o, root) => {
    const url = String(m.type_url ?? '');
    const inner = anyType(root, url);
    const bytes = (m.value ?? new Uint8Array(0)) as Uint8Array;
    if (!inner) return { '@type': url, value: Buffer.from(bytes).toString('base64') };
    const decoded = inner.decode(bytes) as unknown as Record<string, unknown>;
    const json = messageToJson(inner, decoded, o, root);
    if (WKT_TO[inner.fullName]) return { '@type': url, value: json };
    return { '@type': url, ...(json as object) };
  },
};
for (const w of ['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes']) {
  WKT_TO[`.google.protobuf.${w}Value`] = (t, m) => scalarToJson(t.fields.value!.type, m.value ?? t.fields.value!.typeDefault);
}
