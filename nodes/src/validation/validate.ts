/**
 * Config validation: the schema pass (schema/validate.ts, every error) then the policy pass
 * (each policy's own schema and check from policies/specs.ts) and the reference pass (a route
 * names a known upstream, two consumers share no key). Errors carry a dotted path as users
 * write it.
 *
 * Cost follows the change, not the table: the document's shell (node section, collection
 * names) and each item are checked on their own, and an item's result is kept by its object
 * identity (a WeakMap), so a reload whose source hands over the unchanged items as the same
 * objects (the etcd source, the file source's JSON reader, compile's carry-over) re-checks
 * only the items that changed plus the cross-item passes, which are map lookups. A record
 * whose source says how it differs from its previous one (core/lineage.ts) costs what
 * changed in every pass, cross-item ones included: no walk over the unchanged items at all.
 */
import { Collection, ConfigShell, Route, Upstream, Consumer, ProtoSet } from '../schema/model.ts';
import { ajvErrors, compileSchema, formatPath, type ConfigError } from '../schema/validate.ts';
import { policySpecs as policies } from '../policies/specs.ts';
import { templateErrors } from '../core/template.ts';
import { loadProtoSet } from '../protos/sets.ts';
import { lineageOf } from '../core/lineage.ts';

type Kind = 'routes' | 'upstreams' | 'consumers' | 'protos';
const ITEM_SCHEMA = { routes: Route, upstreams: Upstream, consumers: Consumer, protos: ProtoSet } as const;
const NO_ERRORS: readonly ConfigError[] = Object.freeze([]);
const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});
const CONSUMER_CHECKS = [...policies.values()].filter((p) => p.checkConsumer);

/** A route's rewrite.path may use only params every match path defines (core/template.ts). */
function checkRewrite(route: any, base: string, out: ConfigError[]): void {
  const tpl = route?.rewrite?.path;
  const paths = route?.match?.paths;
  if (typeof tpl !== 'string' || !Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) return;
  for (const message of templateErrors(tpl, paths)) out.push({ path: `${base}.rewrite.path`, message });
}

/** Policy schemas and checks of one route: everything about it that reads no other item (except proto sets, see readsProtos). */
function checkPolicies(route: any, routeName: string, doc: any, base: string, out: ConfigError[], baseDir: string, partial: boolean): void {
  const pol = route?.policies;
  if (!pol || typeof pol !== 'object') return;
  for (const [name, cfg] of Object.entries(pol)) {
    const p = policies.get(name);
    const path = formatPath(base, ['policies', name]);
    if (!p) { out.push({ path, message: `unknown policy "${name}" (known: ${[...policies.keys()].join(', ')})` }); continue; }
    if (!p.canDeny && (cfg as { enforce?: unknown } | null)?.enforce === false) { out.push(noShadow(name, path)); continue; }
    const v = compileSchema(p.schema);
    if (!v(cfg ?? {})) { out.push(...ajvErrors(v.errors, cfg, path)); continue; }
    if (p.check) for (const e of p.check(cfg ?? {}, { routeName, doc, path, baseDir, partial })) if (!out.some((o) => o.path === e.path && o.message === e.message)) out.push(e);
  }
}

/** `enforce: false` on a policy that never refuses a request (PolicySpec.canDeny false). */
function noShadow(name: string, path: string): ConfigError {
  return { path: `${path}.enforce`, message: `"${name}" never refuses a request, so it has no shadow mode: enforce: false is not accepted (remove the policy to turn it off)` };
}

/** Upstream names the route and its (schema-valid) policies refer to that the document lacks. */
function checkRefs(route: any, base: string, upstreams: Record<string, unknown>, out: ConfigError[]): void {
  if (typeof route.upstream === 'string' && !Object.hasOwn(upstreams, route.upstream)) {
    out.push({ path: `${base}.upstream`, message: `unknown upstream "${route.upstream}"` });
  }
  const pol = route.policies;
  if (!pol || typeof pol !== 'object') return;
  for (const [name, cfg] of Object.entries(pol)) {
    const p = policies.get(name);
    if (!p?.upstreamRefs || !compileSchema(p.schema)(cfg ?? {})) continue;
    for (const [rel, ref] of p.upstreamRefs(cfg ?? {})) {
      if (!Object.hasOwn(upstreams, ref)) out.push({ path: formatPath(formatPath(base, ['policies', name]), rel), message: `unknown upstream "${ref}"` });
    }
  }
}

function readsProtos(route: any): boolean {
  const pol = route?.policies;
  if (!pol || typeof pol !== 'object') return false;
  for (const name in pol) if (policies.get(name)?.readsProtos === true) return true;
  return false;
}

/** The checks of one item that read nothing else, as the etcd source runs them per key. */
function itemErrors(kind: Kind, name: string, raw: unknown, doc: any, baseDir: string, partial: boolean): ConfigError[] {
  const v = compileSchema(ITEM_SCHEMA[kind]);
  const base = formatPath('', [kind, name]);
  const out = v(raw) ? [] : ajvErrors(v.errors, raw, base);
  if (kind === 'routes') { checkPolicies(raw, name, doc, base, out, baseDir, partial); checkRewrite(raw, base, out); }
  if (kind === 'consumers') for (const p of CONSUMER_CHECKS) out.push(...p.checkConsumer!(raw as any, base));
  if (kind === 'upstreams' && raw !== null && typeof raw === 'object') {
    const up = raw as { targets?: unknown[]; discovery?: unknown };
    if (!up.targets?.length && !up.discovery) out.push({ path: base, message: 'needs targets or discovery' });
  }
  // A stored proto set must parse on its own (files mode: the paths are the file's folder's).
  if (kind === 'protos' && !out.length) {
    try { loadProtoSet(raw as object, baseDir); } catch (err) { out.push({ path: base, message: (err as Error).message }); }
  }
  return out;
}

/**
 * Items checked (not found in the cache) and items visited by any pass (cache hits included)
 * since start: tests and the scale benchmark read them.
 */
export const validationStats = { itemsChecked: 0, itemsVisited: 0 };

/** One item's result, kept by the item's object; valid while its name, folder and (for grpc-transcode routes) proto sets are the same. */
interface Checked { kind: Kind; name: string; baseDir: string; protos: unknown; errors: readonly ConfigError[] }
const checked = new WeakMap<object, Checked>();

function cachedItemErrors(kind: Kind, name: string, raw: unknown, doc: any, baseDir: string): readonly ConfigError[] {
  if (raw === null || typeof raw !== 'object') return itemErrors(kind, name, raw, doc, baseDir, false);
  const protos = kind === 'routes' && readsProtos(raw) ? doc.protos : undefined;
  const hit = checked.get(raw);
  if (hit && hit.kind === kind && hit.name === name && hit.baseDir === baseDir && hit.protos === protos) return hit.errors;
  const errs = itemErrors(kind, name, raw, doc, baseDir, false);
  validationStats.itemsChecked++;
  checked.set(raw, { kind, name, baseDir, protos, errors: errs.length ? errs : NO_ERRORS });
  return errs;
}

/** Every item's own errors in one collection, kept by the collection object (an unchanged collection costs one lookup). */
interface CollectionChecked { baseDir: string; protos: unknown; errors: readonly ConfigError[] }
const collectionsChecked = new WeakMap<object, CollectionChecked>();
function collectionItemErrors(kind: Kind, items: Record<string, unknown>, doc: any, baseDir: string): readonly ConfigError[] {
  const protos = kind === 'routes' ? doc.protos : undefined;
  const hit = collectionsChecked.get(items);
  if (hit && hit.baseDir === baseDir && hit.protos === protos) return hit.errors;
  const out: ConfigError[] = [];
  const l = lineageOf(items);
  const before = l && collectionsChecked.get(l.base);
  // The previous record was clean under the same folder and proto sets: only the changed items can add errors.
  const names: Iterable<string> = before !== undefined && before.errors === NO_ERRORS && before.baseDir === baseDir && before.protos === protos ? l!.changed : Object.keys(items);
  for (const name of names) {
    validationStats.itemsVisited++;
    if (!Object.hasOwn(items, name)) continue;
    const errs = cachedItemErrors(kind, name, items[name], doc, baseDir);
    for (let i = 0; i < errs.length; i++) out.push(errs[i]!);
  }
  const errors = out.length ? out : NO_ERRORS;
  collectionsChecked.set(items, { baseDir, protos, errors });
  return errors;
}

/** Collection names (closed map of Name): kept by the collection object. */
const namesChecked = new WeakMap<object, readonly ConfigError[]>();
function collectionErrors(kind: Kind, value: unknown): readonly ConfigError[] {
  const cacheable = value !== null && typeof value === 'object';
  const hit = cacheable ? namesChecked.get(value) : undefined;
  if (hit) return hit;
  const v = compileSchema(Collection);
  // Names are checked one by one: after a clean previous record, the changed names are all there is to check.
  const l = lineageOf(value);
  let subject = value;
  if (l !== undefined && namesChecked.get(l.base) === NO_ERRORS) {
    const changed: Record<string, unknown> = {};
    for (const name of l.changed) changed[name] = true;
    subject = changed;
  }
  const errs = v(subject) ? NO_ERRORS : ajvErrors(v.errors, subject, kind);
  if (cacheable) namesChecked.set(value, errs);
  return errs;
}

/** One pass's result over a record, kept by the record object: what it was checked against, and the errors. */
interface Pass<C> { against: C; errors: readonly ConfigError[] }

/**
 * Routes naming unknown upstreams, kept by the routes object and the upstreams object it was
 * checked against. After a clean pass, a routes edit re-checks the changed routes only, and
 * an upstreams edit that removed no name needs no check at all (a name added or changed
 * cannot make a reference unknown).
 */
const refsChecked = new WeakMap<object, Pass<object>>();
function refErrors(routes: Record<string, any>, ups: Record<string, unknown>): readonly ConfigError[] {
  const hit = refsChecked.get(routes);
  if (hit !== undefined && hit.against === ups) return hit.errors;
  let names: Iterable<string> | undefined;
  if (hit !== undefined && hit.errors === NO_ERRORS) {
    const lu = lineageOf(ups);
    if (lu !== undefined && lu.base === hit.against && lu.removed.length === 0) names = [];
  } else {
    const lr = lineageOf(routes);
    const before = lr && refsChecked.get(lr.base);
    if (before !== undefined && before.errors === NO_ERRORS && before.against === ups) names = lr!.changed;
  }
  const out: ConfigError[] = [];
  for (const name of names ?? Object.keys(routes)) {
    validationStats.itemsVisited++;
    const route = Object.hasOwn(routes, name) ? routes[name] : undefined;
    if (route && typeof route === 'object') checkRefs(route, formatPath('', ['routes', name]), ups, out);
  }
  const errors = out.length ? out : NO_ERRORS;
  refsChecked.set(routes, { against: ups, errors });
  return errors;
}

/** Registry discovery without cluster mode, per upstreams object (after a clean pass: the changed ones only). */
const discoveryChecked = new WeakMap<object, Pass<boolean>>();
function discoveryErrors(ups: Record<string, any>, cluster: boolean): readonly ConfigError[] {
  const hit = discoveryChecked.get(ups);
  if (hit !== undefined && hit.against === cluster) return hit.errors;
  const l = lineageOf(ups);
  const before = l && discoveryChecked.get(l.base);
  const names = before !== undefined && before.errors === NO_ERRORS && before.against === cluster ? l!.changed : Object.keys(ups);
  const out: ConfigError[] = [];
  for (const name of names) {
    validationStats.itemsVisited++;
    const up = Object.hasOwn(ups, name) ? ups[name] : undefined;
    // The registry lives in etcd: without node.cluster nothing would ever fill the target list.
    if (up && typeof up === 'object' && typeof up.discovery?.service === 'string' && !cluster) {
      out.push({ path: formatPath('', ['upstreams', name, 'discovery', 'service']), message: 'registry discovery needs cluster mode (node.cluster with etcd); use targets or discovery.dns standalone' });
    }
  }
  const errors = out.length ? out : NO_ERRORS;
  discoveryChecked.set(ups, { against: cluster, errors });
  return errors;
}

/**
 * One key, two consumers: whichever won would be an accident of map order. Digests are
 * hashed into a Map (one pass), and the result is kept by the consumers object, so an edit
 * that leaves the consumers alone does not pay for a hundred thousand of them. After a clean
 * pass the owner map moves on to the next consumers record of the same lineage, which only
 * takes out the keys of its changed and removed consumers and puts the changed ones back in.
 * The price: the running consumers record keeps its owner map (one entry per key, a few MB
 * at 100,000 consumers) where the full pass used to drop it.
 */
interface KeysChecked { errors: readonly ConfigError[]; owner?: Map<string, string> | undefined }
const keysChecked = new WeakMap<object, KeysChecked>();
function checkKeys(consumers: unknown): readonly ConfigError[] {
  if (!consumers || typeof consumers !== 'object') return NO_ERRORS;
  const hit = keysChecked.get(consumers);
  if (hit) return hit.errors;
  const all = consumers as Record<string, any>;
  const l = lineageOf(consumers);
  const before = l && keysChecked.get(l.base);
  let owner: Map<string, string>;
  let names: Iterable<string>;
  if (before?.owner !== undefined && before.errors === NO_ERRORS) {
    // Taken, not copied: the previous record's result stays, but it can no longer lend its map.
    owner = before.owner;
    before.owner = undefined;
    const base = l!.base as Record<string, any>;
    for (const name of [...l!.changed, ...l!.removed]) {
      const keys = Object.hasOwn(base, name) ? base[name]?.keys : undefined;
      if (!Array.isArray(keys)) continue;
      for (const k of keys) if (typeof k === 'string' && owner.get(k.toLowerCase()) === name) owner.delete(k.toLowerCase());
    }
    names = l!.changed;
  } else {
    owner = new Map();
    names = Object.keys(all);
  }
  const out: ConfigError[] = [];
  for (const name of names) {
    validationStats.itemsVisited++;
    const keys = Object.hasOwn(all, name) ? all[name]?.keys : undefined;
    if (!Array.isArray(keys)) continue;
    keys.forEach((k: unknown, i: number) => {
      if (typeof k !== 'string') return;
      const digest = k.toLowerCase();
      const other = owner.get(digest);
      if (other === undefined) owner.set(digest, name);
      else if (other !== name) out.push({ path: formatPath('', ['consumers', name, 'keys', i]), message: `the same key is also a key of consumer "${other}"` });
    });
  }
  const errors = out.length ? out : NO_ERRORS;
  // With errors the map no longer says who owns what (the losing keys are not in it): not lent on.
  keysChecked.set(consumers, { errors, owner: out.length ? undefined : owner });
  return errors;
}

const KINDS: readonly Kind[] = ['upstreams', 'consumers', 'routes', 'protos'];

/** Validate a whole document: every error, each with its path. Empty array = valid. */
export function validateConfig(raw: unknown, baseDir = process.cwd()): ConfigError[] {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return [{ path: '(root)', message: 'must be a mapping of node, upstreams, consumers, routes' }];
  const shell = compileSchema(ConfigShell);
  const out: ConfigError[] = shell(raw) ? [] : ajvErrors(shell.errors, raw);
  const doc = raw as any;
  for (const kind of KINDS) {
    const items = doc[kind];
    if (items === undefined) continue;
    const names = collectionErrors(kind, items);
    if (names.length) out.push(...names);
    if (items === null || typeof items !== 'object' || Array.isArray(items)) continue;
    const errs = collectionItemErrors(kind, items, doc, baseDir);
    for (let i = 0; i < errs.length; i++) out.push(errs[i]!);
  }
  const ups = doc.upstreams && typeof doc.upstreams === 'object' ? doc.upstreams : EMPTY;
  const routes = doc.routes && typeof doc.routes === 'object' ? doc.routes : EMPTY;
  out.push(...refErrors(routes, ups));
  out.push(...checkKeys(doc.consumers));
  out.push(...discoveryErrors(ups, Boolean(doc.node?.cluster)));
  return out;
}

/** Validate one item, as the etcd source does per key. `kind` is routes | upstreams | consumers | protos. */
export function validateItem(kind: Kind, name: string, raw: unknown): ConfigError[] {
  const out = itemErrors(kind, name, raw, { [kind]: { [name]: raw } }, process.cwd(), true);
  if (kind === 'consumers') out.push(...checkKeys({ [name]: raw }));
  return out;
}
