/**
 * The client commands of gatewayctl: apply, diff, get, delete, status. Each talks to the
 * admin API and returns the process exit code: 0 done, 1 refused or failed (validation
 * errors are printed one per line as `path: message`, like `gatehouse validate`).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { readProtoPath } from '../../../../nodes/src/protos/load.ts';
import YAML from 'yaml';
import { bool, str, UsageError, type Parsed } from './args.ts';
import type { AdminClient, ApiProblem } from './client.ts';
import { render, renderChange, summaries, table, type DiffChange } from './output.ts';

export interface IO {
  out(line: string): void;
  err(line: string): void;
}

const KIND_ALIASES: Record<string, string> = {
  route: 'routes', routes: 'routes', upstream: 'upstreams', upstreams: 'upstreams', consumer: 'consumers', consumers: 'consumers',
};
const KINDS = ['upstreams', 'consumers', 'routes'] as const;

function kindArg(s: string | undefined): string {
  const k = s === undefined ? undefined : KIND_ALIASES[s.toLowerCase()];
  if (!k) throw new UsageError(`unknown kind ${JSON.stringify(s ?? '')}: use routes, upstreams or consumers`);
  return k;
}

function outputFormat(p: Parsed): 'table' | 'json' | 'yaml' {
  const o = str(p, 'output') ?? 'table';
  if (o !== 'table' && o !== 'json' && o !== 'yaml') throw new UsageError(`-o must be json, yaml or table, not ${JSON.stringify(o)}`);
  return o;
}

/** Prints a refused request; always exit 1. */
export function reportProblem(p: ApiProblem, io: IO): number {
  for (const n of p.notes ?? []) io.err(`note: ${n}`);
  if (p.errors?.length) {
    for (const e of p.errors) io.err(`${e.path}: ${e.message}`);
  } else if (p.code === 'GW_UNAUTHORIZED') {
    io.err('gatewayctl: the admin API refused the token (401); check --token-file or GATEHOUSE_ADMIN_TOKEN');
  } else {
    io.err(`gatewayctl: ${p.detail} (${p.code})`);
  }
  return 1;
}

/**
 * Reads the file for apply / diff (`-` = stdin) as YAML or JSON, duplicate keys rejected.
 * A `node:` section is dropped with a note: static settings of one node, not cluster state.
 */
function readDocumentFile(file: string, io: IO): unknown {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new Failure(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const d = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (d.errors.length) throw new Failure(d.errors.map((e) => `${file}: ${e.message.split('\n')[0]}`).join('\n'));
  const doc = d.toJS({ maxAliasCount: 100 }) as unknown;
  if (doc && typeof doc === 'object' && !Array.isArray(doc) && 'node' in doc) {
    io.err(`note: ${file}: the node: section is ignored (static node config, read by each node at start; not cluster state)`);
    const { node: _node, ...rest } = doc as Record<string, unknown>;
    return protoPathsToFiles(rest, file);
  }
  return protoPathsToFiles(doc ?? {}, file);
}

/**
 * `protos.<name>.path` → `{ files, entry }`: the sources are read here, relative to the
 * applied file, so every node gets the same text through etcd (no node reads a local path).
 */
function protoPathsToFiles(doc: unknown, file: string): unknown {
  const protos = (doc as { protos?: unknown } | null)?.protos;
  if (!protos || typeof protos !== 'object' || Array.isArray(protos)) return doc;
  const base = file === '-' ? process.cwd() : dirname(resolve(file));
  const out: Record<string, unknown> = {};
  for (const [name, set] of Object.entries(protos as Record<string, unknown>)) {
    const path = (set as { path?: unknown } | null)?.path;
    if (typeof path !== 'string') { out[name] = set; continue; }
    try { out[name] = readProtoPath(path, base); } catch (err) { throw new Failure(`${file}: protos.${name}.path: ${(err as Error).message}`); }
  }
  return { ...(doc as object), protos: out };
}

/** An expected failure with a message for the user; exit 1. */
export class Failure extends Error {}

interface ChangeSummary { action: 'added' | 'changed' | 'removed'; kind: string; name: string }
interface ApplyBody { applied: boolean; dryRun: boolean; revision: number; changes: ChangeSummary[]; unchanged: number; kept: string[]; notes: string[] }
interface DiffBody { revision: number; configRevision: number; changes: DiffChange[]; unchanged: number; kept: string[]; errors: Array<{ path: string; message: string }>; notes: string[] }

const SIGN = { added: '+', changed: '~', removed: '-' } as const;
const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

function counts(changes: ChangeSummary[]): string {
  const by = (a: string) => changes.filter((c) => c.action === a).length;
  return `${by('added')} added, ${by('changed')} changed, ${by('removed')} removed`;
}

export async function apply(p: Parsed, io: IO, api: AdminClient): Promise<number> {
  const file = str(p, 'file');
  if (!file) throw new UsageError('apply needs -f FILE');
  const doc = readDocumentFile(file, io);
  const q = new URLSearchParams();
  if (bool(p, 'prune')) q.set('prune', 'true');
  if (bool(p, 'dry-run')) q.set('dryRun', 'true');
  const pin = str(p, 'revision');
  if (pin !== undefined) q.set('revision', pin);
  const r = await api.call<ApplyBody>('POST', `/v1/apply${q.size ? `?${q}` : ''}`, doc);
  if (!r.ok) return reportProblem(r.problem, io);
  const b = r.body;
  for (const n of b.notes ?? []) io.err(`note: ${n}`);
  for (const c of b.changes) io.out(`${SIGN[c.action]} ${c.kind}/${c.name}`);
  if (!b.changes.length) io.out(`no changes (revision ${b.revision}, ${b.unchanged} unchanged)`);
  else if (b.dryRun) io.out(`dry run: ${plural(b.changes.length, 'change')} would be applied (${counts(b.changes)}; ${b.unchanged} unchanged) against revision ${b.revision}; nothing was written`);
  else io.out(`applied ${plural(b.changes.length, 'change')} (${counts(b.changes)}; ${b.unchanged} unchanged) at revision ${b.revision}`);
  if (b.kept.length) io.out(`kept ${plural(b.kept.length, 'item')} not in ${file} (--prune removes them): ${b.kept.join(', ')}`);
  return 0;
}

export async function diff(p: Parsed, io: IO, api: AdminClient): Promise<number> {
  const file = str(p, 'file');
  if (!file) throw new UsageError('diff needs -f FILE');
  const doc = readDocumentFile(file, io);
  const r = await api.call<DiffBody>('POST', `/v1/diff${bool(p, 'prune') ? '?prune=true' : ''}`, doc);
  if (!r.ok) return reportProblem(r.problem, io);
  const b = r.body;
  for (const n of b.notes ?? []) io.err(`note: ${n}`);
  for (const c of b.changes) io.out(renderChange(c, true));
  if (b.changes.length) io.out(`${plural(b.changes.length, 'change')} (${counts(b.changes)}; ${b.unchanged} unchanged) against revision ${b.configRevision}`);
  else io.out(`no changes (${b.unchanged} unchanged) against revision ${b.configRevision}`);
  if (b.kept.length) io.out(`not in ${file}, kept unless --prune: ${b.kept.join(', ')}`);
  if (b.errors.length) {
    for (const e of b.errors) io.err(`${e.path}: ${e.message}`);
    return 1;
  }
  return 0;
}

export async function get(p: Parsed, io: IO, api: AdminClient): Promise<number> {
  const fmt = outputFormat(p);
  const [, kindRaw, name] = p._;
  if (p._.length > 3) throw new UsageError('get takes at most KIND and NAME');
  const printTable = (kind: string, items: Record<string, unknown>) => {
    const s = summaries[kind]!;
    const names = Object.keys(items).sort();
    io.out(names.length ? table(s.header, names.map((n) => s.row(n, items[n]))) : `no ${kind}`);
  };
  if (kindRaw === undefined) {
    const r = await api.call<Record<string, unknown>>('GET', '/v1/config');
    if (!r.ok) return reportProblem(r.problem, io);
    const doc = Object.fromEntries(KINDS.map((k) => [k, (r.body[k] ?? {}) as Record<string, unknown>]));
    if (fmt !== 'table') { io.out(render(doc, fmt)); return 0; }
    KINDS.forEach((k, i) => { if (i) io.out(''); io.out(`# ${k}`); printTable(k, doc[k]!); });
    return 0;
  }
  const kind = kindArg(kindRaw);
  if (name === undefined) {
    const r = await api.call<{ items: Record<string, unknown> }>('GET', `/v1/${kind}`);
    if (!r.ok) return reportProblem(r.problem, io);
    if (fmt !== 'table') io.out(render({ [kind]: r.body.items }, fmt));
    else printTable(kind, r.body.items);
    return 0;
  }
  const r = await api.call<{ value?: unknown; raw?: string; error?: string }>('GET', `/v1/${kind}/${encodeURIComponent(name)}`);
  if (!r.ok) return reportProblem(r.problem, io);
  if (r.body.error) { io.err(`gatewayctl: ${kind}/${name}: ${r.body.error}`); io.out(r.body.raw ?? ''); return 1; }
  if (fmt !== 'table') io.out(render({ [kind]: { [name]: r.body.value } }, fmt));
  else printTable(kind, { [name]: r.body.value });
  return 0;
}

export async function del(p: Parsed, io: IO, api: AdminClient): Promise<number> {
  const [, kindRaw, name] = p._;
  if (!name || p._.length > 3) throw new UsageError('delete needs KIND NAME');
  const kind = kindArg(kindRaw);
  const r = await api.call<{ revision: number }>('DELETE', `/v1/${kind}/${encodeURIComponent(name)}`);
  if (!r.ok) {
    if (r.problem.errors?.length) io.err(`gatewayctl: ${r.problem.detail}`);
    return reportProblem(r.problem, io);
  }
  io.out(`deleted ${kind}/${name} at revision ${r.body.revision}`);
  return 0;
}

interface StatusBody {
  revision: number;
  configRevision: number;
  prefix: string;
  nodes: Array<{ id: string; address: string; version: string; revision: number; startedAt: string; behind: boolean }>;
}

export async function status(p: Parsed, io: IO, api: AdminClient): Promise<number> {
  const fmt = outputFormat(p);
  const r = await api.call<StatusBody>('GET', '/v1/status');
  if (!r.ok) return reportProblem(r.problem, io);
  const b = r.body;
  if (fmt !== 'table') { io.out(render(b, fmt)); return 0; }
  io.out(`etcd revision ${b.revision}, config revision ${b.configRevision}, ${plural(b.nodes.length, 'node')}`);
  if (!b.nodes.length) { io.out(`no nodes registered under ${b.prefix}/nodes/`); return 0; }
  io.out(table(['NODE', 'ADDRESS', 'VERSION', 'REVISION', 'BEHIND'],
    b.nodes.map((n) => [n.id, n.address || '-', n.version || '-', String(n.revision), n.behind ? 'yes' : 'no'])));
  return 0;
}
