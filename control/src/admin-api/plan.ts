/**
 * From a document (or one item) and the stored config to what would be written: the merged
 * config, its validation errors (each with its path, as `gatehouse validate` prints them)
 * and the per-key changes. Pure functions; the handlers read etcd and commit.
 *
 * Validation runs on the merged result, not on the document alone: a route in the document
 * may name an upstream that only exists in etcd, and a stored route may name an upstream
 * that --prune would remove. Everything in etcd is cluster mode, so the merged config is
 * validated as if it had a `node.cluster` section.
 */
import { GatewayConfig, formatPath, validateConfig, type ConfigError } from '@gatehouse/node/schema';
import { KINDS, type Kind, type StoredConfig } from '../store/config-store.ts';

export type { ConfigError };
export type ConfigDoc = Record<Kind, Record<string, unknown>>;
export type DocumentInput = Partial<Record<Kind, Record<string, unknown>>>;

const CLUSTER_NODE = { cluster: { etcd: { endpoints: ['http://etcd.invalid:2379'] } } };

/** The name pattern of a collection, read from the model: one definition of a valid name. */
const NAME = new RegExp(Object.keys((GatewayConfig as unknown as { properties: Record<string, { patternProperties?: object }> })
  .properties.routes?.patternProperties ?? { '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$': 1 })[0]!);

export function nameError(kind: Kind, name: string): ConfigError | undefined {
  if (NAME.test(name)) return undefined;
  return { path: itemPath(kind, name), message: 'invalid name: must be letters, digits, . _ - (at most 128), starting with a letter or digit' };
}

export function itemPath(kind: Kind, name: string): string {
  return formatPath('', [kind, name]);
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks the document's outer shape: a mapping of upstreams / consumers / routes, each a
 * mapping of name to item (null, as YAML writes an empty section, counts as empty).
 * `node` is dropped and reported in `notes`: it is a node's static settings, not cluster state.
 */
export function readDocument(raw: unknown): { doc: DocumentInput; errors: ConfigError[]; notes: string[] } {
  const errors: ConfigError[] = [];
  const notes: string[] = [];
  const doc: DocumentInput = {};
  if (!isMap(raw)) return { doc, errors: [{ path: '(root)', message: 'must be a mapping of upstreams, consumers and routes' }], notes };
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'node') { notes.push('the node: section was ignored: it is static node config, read by each node at start, not cluster state'); continue; }
    if (!(KINDS as readonly string[]).includes(k)) { errors.push({ path: '(root)', message: `unknown field "${k}" (expected upstreams, consumers, routes, protos)` }); continue; }
    if (v === null || v === undefined) { doc[k as Kind] = {}; continue; }
    if (!isMap(v)) { errors.push({ path: k, message: `must be a mapping of name to ${k.slice(0, -1)}` }); continue; }
    doc[k as Kind] = v;
  }
  return { doc, errors, notes };
}

/** Stored items as a config; items whose stored text is not JSON are left out and reported. */
export function storedDoc(stored: StoredConfig): { config: ConfigDoc; broken: Map<string, ConfigError> } {
  const config: ConfigDoc = { upstreams: {}, consumers: {}, routes: {}, protos: {} };
  const broken = new Map<string, ConfigError>();
  for (const kind of KINDS) {
    for (const [name, item] of stored.items[kind]) {
      if (item.parseError) broken.set(item.key, { path: itemPath(kind, name), message: `${item.parseError} (replace or delete it)` });
      else config[kind][name] = item.value;
    }
  }
  return { config, broken };
}

/** Upstream names a route refers to, with the path of each reference (relative to the route). */
export function upstreamRefs(route: unknown): Array<{ segs: (string | number)[]; name: string }> {
  const out: Array<{ segs: (string | number)[]; name: string }> = [];
  if (!isMap(route)) return out;
  if (typeof route.upstream === 'string') out.push({ segs: ['upstream'], name: route.upstream });
  const pol = isMap(route.policies) ? route.policies : {};
  const split = isMap(pol['traffic-split']) ? pol['traffic-split'] : {};
  if (Array.isArray(split.upstreams)) {
    split.upstreams.forEach((u, i) => {
      if (isMap(u) && typeof u.name === 'string') out.push({ segs: ['policies', 'traffic-split', 'upstreams', i, 'name'], name: u.name });
    });
  }
  const mirror = isMap(pol.mirror) ? pol.mirror : {};
  if (typeof mirror.upstream === 'string') out.push({ segs: ['policies', 'mirror', 'upstream'], name: mirror.upstream });
  return out;
}

/** Every place in `config` that names upstream `name`, as paths. */
export function referencesTo(config: ConfigDoc, name: string): string[] {
  const out: string[] = [];
  for (const [rname, route] of Object.entries(config.routes)) {
    for (const ref of upstreamRefs(route)) if (ref.name === name) out.push(formatPath('', ['routes', rname, ...ref.segs]));
  }
  return out;
}

/** validateConfig on the merged config (policy upstream references included: PolicyDefinition.upstreamRefs). */
export function validateMerged(config: ConfigDoc): ConfigError[] {
  return validateConfig({ node: CLUSTER_NODE, ...config }).map((e) => (e.path ? e : { ...e, path: '(root)' }));
}

/** Only the errors at or under `path` (the item being written), for single-item writes. */
export function errorsUnder(errs: ConfigError[], path: string): ConfigError[] {
  return errs.filter((e) => e.path === path || e.path.startsWith(`${path}.`) || e.path.startsWith(`${path}[`));
}

export interface Change {
  action: 'added' | 'changed' | 'removed';
  kind: Kind;
  name: string;
  key: string;
  before?: unknown;
  after?: unknown;
}

export interface Plan {
  /** etcd revision the plan was computed against. */
  revision: number;
  changes: Change[];
  unchanged: number;
  /** `kind/name` of stored items of the document's kinds that the document lacks: kept, or removed with prune. */
  kept: string[];
  merged: ConfigDoc;
  errors: ConfigError[];
}

/** JSON with object keys sorted: two values are the same config iff their canonical texts are equal. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => (isMap(val)
    ? Object.fromEntries(Object.keys(val).sort().map((k) => [k, val[k]]))
    : val));
}

/**
 * The plan for applying `doc`: with `prune`, each kind the document contains becomes exactly
 * the document's; kinds it does not mention are never touched. Node, registry and other keys
 * under the prefix are outside the three kinds and never touched either.
 */
export function planApply(stored: StoredConfig, doc: DocumentInput, prune: boolean, keyOf: (kind: Kind, name: string) => string): Plan {
  const { config: current, broken } = storedDoc(stored);
  const merged: ConfigDoc = { upstreams: { ...current.upstreams }, consumers: { ...current.consumers }, routes: { ...current.routes }, protos: { ...current.protos } };
  const changes: Change[] = [];
  const kept: string[] = [];
  let unchanged = 0;
  const errors: ConfigError[] = [];
  for (const kind of KINDS) {
    const want = doc[kind];
    if (!want) continue;
    for (const [name, after] of Object.entries(want)) {
      const item = stored.items[kind].get(name);
      merged[kind][name] = after;
      if (!item) { changes.push({ action: 'added', kind, name, key: keyOf(kind, name), after }); continue; }
      if (!item.parseError && canonical(item.value) === canonical(after)) { unchanged++; continue; }
      changes.push({ action: 'changed', kind, name, key: item.key, before: item.parseError ? item.raw : item.value, after });
    }
    for (const [name, item] of stored.items[kind]) {
      if (name in want) continue;
      if (prune) {
        delete merged[kind][name];
        changes.push({ action: 'removed', kind, name, key: item.key, before: item.parseError ? item.raw : item.value });
      } else {
        kept.push(`${kind}/${name}`);
      }
    }
  }
  // A stored item that is not JSON blocks the apply only if it stays.
  for (const kind of KINDS) {
    for (const [name, item] of stored.items[kind]) {
      const staying = !(doc[kind] && (name in doc[kind]! || prune));
      if (staying && broken.has(item.key)) errors.push(broken.get(item.key)!);
    }
  }
  errors.push(...validateMerged(merged));
  return { revision: stored.revision, changes, unchanged, kept, merged, errors };
}
