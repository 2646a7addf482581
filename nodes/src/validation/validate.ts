/**
 * Config validation: the schema pass (schema/validate.ts, every error) then the policy pass
 * (each policy's own schema from the registry) and the reference pass (a route names a known
 * upstream). Errors carry a dotted path as users write it.
 */
import { GatewayConfig, Route, Upstream, Consumer, ProtoSet } from '../schema/model.ts';
import { ajvErrors, compileSchema, formatPath, type ConfigError } from '../schema/validate.ts';
import { policySpecs as policies } from '../policies/specs.ts';
import { templateErrors } from '../core/template.ts';
import { loadProtoSet } from '../protos/sets.ts';

/** A route's rewrite.path may use only params every match path defines (core/template.ts). */
function checkRewrite(route: any, base: string, out: ConfigError[]): void {
  const tpl = route?.rewrite?.path;
  const paths = route?.match?.paths;
  if (typeof tpl !== 'string' || !Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) return;
  for (const message of templateErrors(tpl, paths)) out.push({ path: `${base}.rewrite.path`, message });
}

function checkPolicies(route: any, routeName: string, doc: any, base: string, out: ConfigError[], upstreams?: Record<string, unknown>, baseDir = process.cwd(), partial = false): void {
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
    // A document-wide finding (a consumer's password hash) is reported once, not per route.
    if (p.check) for (const e of p.check(cfg ?? {}, { routeName, doc, path, baseDir, partial })) if (!out.some((o) => o.path === e.path && o.message === e.message)) out.push(e);
  }
}

/**
 * One key, two consumers: whichever won would be an accident of map order. Digests are
 * hashed into a Map (one pass), so a thousand consumers cost a thousand lookups.
 */
function checkKeys(consumers: unknown, out: ConfigError[]): void {
  if (!consumers || typeof consumers !== 'object') return;
  const owner = new Map<string, string>();
  for (const [name, c] of Object.entries<any>(consumers)) {
    const keys = c?.keys;
    if (!Array.isArray(keys)) continue;
    keys.forEach((k: unknown, i: number) => {
      if (typeof k !== 'string') return;
      const digest = k.toLowerCase();
      const other = owner.get(digest);
      if (other === undefined) owner.set(digest, name);
      else if (other !== name) out.push({ path: formatPath('', ['consumers', name, 'keys', i]), message: `the same key is also a key of consumer "${other}"` });
    });
  }
}

/** Validate a whole document: every error, each with its path. Empty array = valid. */
export function validateConfig(raw: unknown, baseDir = process.cwd()): ConfigError[] {
  const v = compileSchema(GatewayConfig);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return [{ path: '(root)', message: 'must be a mapping of node, upstreams, consumers, routes' }];
  const out: ConfigError[] = v(raw) ? [] : ajvErrors(v.errors, raw);
  const doc = raw as any;
  const ups = doc.upstreams && typeof doc.upstreams === 'object' ? doc.upstreams : {};
  for (const [name, route] of Object.entries<any>(doc.routes ?? {})) {
    const base = formatPath('', ['routes', name]);
    checkPolicies(route, name, doc, base, out, ups, baseDir);
    checkRewrite(route, base, out);
    if (route && typeof route === 'object' && typeof route.upstream === 'string' && !(route.upstream in ups)) {
      out.push({ path: `${base}.upstream`, message: `unknown upstream "${route.upstream}"` });
    }
  }
  checkKeys(doc.consumers, out);
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

/** Validate one item, as the etcd source does per key. `kind` is routes | upstreams | consumers. */
export function validateItem(kind: 'routes' | 'upstreams' | 'consumers' | 'protos', name: string, raw: unknown): ConfigError[] {
  const schema = kind === 'routes' ? Route : kind === 'upstreams' ? Upstream : kind === 'protos' ? ProtoSet : Consumer;
  const v = compileSchema(schema);
  const base = formatPath('', [kind, name]);
  const out = v(raw) ? [] : ajvErrors(v.errors, raw, base);
  if (kind === 'routes') { checkPolicies(raw, name, { routes: { [name]: raw } }, base, out, undefined, process.cwd(), true); checkRewrite(raw, base, out); }
  if (kind === 'consumers') checkKeys({ [name]: raw }, out);
  // A stored proto set must parse on its own (files mode: no local paths involved).
  if (kind === 'protos' && !out.length) {
    try { loadProtoSet(raw as object, process.cwd()); } catch (err) { out.push({ path: base, message: (err as Error).message }); }
  }
  return out;
}

