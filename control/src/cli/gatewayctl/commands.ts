/**
 * The client commands of gatewayctl: apply, diff, get, delete, status. Each talks to the
 * admin API and returns the process exit code: 0 done, 1 refused or failed (validation
 * errors are printed one per line as `path: message`, like `gatehouse validate`).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { readProtoPath } from '@gatehouse/node/schema';
import YAML from 'yaml';
import { bool, str, UsageError, type Parsed } from './args.ts';
import type { AdminClient, ApiProblem } from './client.ts';
import { render, renderChange, summaries, table, type DiffChange } from './output.ts';
import { durationFlag, statusLines, waitForNodes, type IO, type StatusBody } from './convergence.ts';

export type { IO };

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
interface ApplyBody { applied: boolean; dryRun: boolean; revision: number; configRevision: number; changes: Array<ChangeSummary & { key: string }>; unchanged: number; kept: string[]; notes: string[] }
interface DiffBody { revision: number; configRevision: number; changes: DiffChange[]; unchanged: number; kept: string[]; errors: Array<{ path: string; message: string }>; notes: string[] }

const SIGN = { added: '+', changed: '~', removed: '-' } as const;
const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

function counts(changes: ChangeSummary[]): string {
  const by = (a: string) => changes.filter((c) => c.action === a).length;
  return `${by('added')} added, ${by('changed')} changed, ${by('removed')} removed`;
}

/** `--wait [--timeout 30s]` after a write: wait for every live node to serve `revision`. */
async function afterWrite(p: Parsed, io: IO, api: AdminClient, b: ApplyBody): Promise<number> {
  if (!bool(p, 'wait')) {
    if (str(p, 'timeout') !== undefined) throw new UsageError('--timeout goes with --wait');
    return 0;
  }
  const timeoutMs = durationFlag('timeout', str(p, 'timeout'), 30_000);
  if (b.dryRun) return 0;
  const keys = new Set(b.changes.filter((c) => c.action !== 'removed').map((c) => c.key));
  return waitForNodes(api, io, { ...(b.applied ? { target: b.revision } : {}), keys, timeoutMs });
}

function printApplied(b: ApplyBody, io: IO, what: string): void {
  for (const n of b.notes ?? []) io.err(`note: ${n}`);
  for (const c of b.changes) io.out(`${SIGN[c.action]} ${c.kind}/${c.name}`);
  if (!b.changes.length) io.out(`no changes (config revision ${b.configRevision}, ${b.unchanged} unchanged)`);
  else if (b.dryRun) io.out(`dry run: ${plural(b.changes.length, 'change')} would be applied (${counts(b.changes)}; ${b.unchanged} unchanged) against config revision ${b.configRevision}; nothing was written`);
  else io.out(`applied ${plural(b.changes.length, 'change')} (${counts(b.changes)}; ${b.unchanged} unchanged) at revision ${b.revision}`);
  if (b.kept.length) io.out(`kept ${plural(b.kept.length, 'item')} not in ${what} (--prune removes them): ${b.kept.join(', ')}`);
}

/**
 * `--prune` deletes: show what goes and ask first. The apply is then pinned to the revision
 * that was shown, so what was confirmed is exactly what is written.
 */
async function confirmPrune(p: Parsed, io: IO, api: AdminClient, doc: unknown, q: URLSearchParams): Promise<number | undefined> {
  const dq = new URLSearchParams(q);
  dq.set('dryRun', 'true');
  const r = await api.call<ApplyBody>('POST', `/v1/apply?${dq}`, doc);
  if (!r.ok) return reportProblem(r.problem, io);
  const gone = r.body.changes.filter((c) => c.action === 'removed');
  if (!gone.length) return undefined;
  io.err(`--prune will delete ${plural(gone.length, 'item')}:`);
  for (const c of gone) io.err(`  - ${c.kind}/${c.name}`);
  if (!bool(p, 'yes')) {
    if (!io.confirm) {
      io.err('gatewayctl: refusing to delete without confirmation: not a terminal; pass --yes to confirm');
      return 1;
    }
    if (!(await io.confirm(`delete ${plural(gone.length, 'item')}? [y/N] `))) {
      io.err('gatewayctl: nothing was written');
      return 1;
    }
  }
  if (!q.has('revision')) q.set('revision', String(r.body.revision));
  return undefined;
}

export async function apply(p: Parsed, io: IO, api: AdminClient): Promise<number> {
  const file = str(p, 'file');
  if (!file) throw new UsageError('apply needs -f FILE');
  if (file === '-' && bool(p, 'prune') && !bool(p, 'yes') && !bool(p, 'dry-run')) {
    throw new UsageError('apply -f - --prune reads the document from stdin, so it cannot ask: add --yes');
  }
  const doc = readDocumentFile(file, io);
  const q = new URLSearchParams();
  if (bool(p, 'prune')) q.set('prune', 'true');
  const pin = str(p, 'revision');
  if (pin !== undefined) q.set('revision', pin);
  if (bool(p, 'dry-run')) q.set('dryRun', 'true');
  else if (bool(p, 'prune')) {
    const stop = await confirmPrune(p, io, api, doc, q);
    if (stop !== undefined) return stop;
  }
  const r = await api.call<ApplyBody>('POST', `/v1/apply${q.size ? `?${q}` : ''}`, doc);
  if (!r.ok) return reportProblem(r.problem, io);
  printApplied(r.body, io, file);
  return afterWrite(p, io, api, r.body);
}

/** `rollback REV [--wait] [--dry-run] [--yes]`: the config as it was at REV, as a new revision. */
export async function rollback(p: Parsed, io: IO, api: AdminClient): Promise<number> {
  const rev = p._[1];
  if (!rev || !/^[0-9]+$/.test(rev) || p._.length > 2) throw new UsageError('rollback needs a revision number (see gatewayctl history)');
  const q = new URLSearchParams({ revision: rev });
  if (bool(p, 'dry-run')) q.set('dryRun', 'true');
  const r = await api.call<ApplyBody>('POST', `/v1/rollback?${q}`);
  if (!r.ok) return reportProblem(r.problem, io);
  printApplied(r.body, io, `revision ${rev}`);
  return afterWrite(p, io, api, r.body);
}

export async function diff(p: Parsed, io: IO, api: AdminClient): Promise<number> {
  const file = str(p, 'file');
  const rev = str(p, 'revision');
  if (rev !== undefined && file === undefined) return diffRevision(rev, io, api);
  if (!file) throw new UsageError('diff needs -f FILE or --revision REV');
  if (rev !== undefined) throw new UsageError('diff takes -f FILE or --revision REV, not both');
  const doc = readDocumentFile(file, io);
  const r = await api.call<DiffBody>('POST', `/v1/diff${bool(p, 'prune') ? '?prune=true' : ''}`, doc);
  if (!r.ok) return reportProblem(r.problem, io);
  const b = r.body;
  for (const n of b.notes ?? []) io.err(`note: ${n}`);
  for (const c of b.changes) io.out(renderChange(c, true));
  if (b.changes.length) io.out(`${plural(b.changes.length, 'change')} (${counts(b.changes)}; ${b.unchanged} unchanged) against config revision ${b.configRevision}`);
  else io.out(`no changes (${b.unchanged} unchanged) against config revision ${b.configRevision}`);
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

/** `diff --revision REV`: what `rollback REV` would change, item by item. */
async function diffRevision(rev: string, io: IO, api: AdminClient): Promise<number> {
  if (!/^[0-9]+$/.test(rev)) throw new UsageError('--revision must be a revision number (see gatewayctl history)');
  const r = await api.call<ApplyBody & { changes: DiffChange[] }>('POST', `/v1/rollback?revision=${rev}&dryRun=true&details=true`);
  if (!r.ok) return reportProblem(r.problem, io);
  const b = r.body;
  for (const c of b.changes) io.out(renderChange(c, true));
  if (b.changes.length) io.out(`${plural(b.changes.length, 'change')} (${counts(b.changes)}; ${b.unchanged} unchanged) from config revision ${b.configRevision} back to revision ${rev}`);
  else io.out(`no changes: config revision ${b.configRevision} is the config of revision ${rev}`);
  return 0;
}

export async function status(p: Parsed, io: IO, api: AdminClient): Promise<number> {
  const fmt = outputFormat(p);
  if (bool(p, 'watch')) {
    if (fmt !== 'table') throw new UsageError('--watch prints a table; drop -o');
    return watchStatus(p, io, api);
  }
  const r = await api.call<StatusBody>('GET', '/v1/status');
  if (!r.ok) return reportProblem(r.problem, io);
  if (fmt !== 'table') { io.out(render(r.body, fmt)); return 0; }
  for (const l of statusLines(r.body)) io.out(l);
  return 0;
}

/** The status text without what moves every second anyway (heartbeat ages, etcd's revision). */
const steady = (text: string) => text.replace(/ [0-9.]+s( |$)/gm, ' ').replace(/\(etcd revision \d+\)/, '');

/** `status --watch [--interval 1s]`: redraw on a terminal, else print the table each time it changes. Runs until interrupted. */
async function watchStatus(p: Parsed, io: IO, api: AdminClient): Promise<number> {
  const interval = durationFlag('interval', str(p, 'interval'), 1000);
  let last = '';
  for (;;) {
    const r = await api.call<StatusBody>('GET', '/v1/status');
    const lines = r.ok ? statusLines(r.body) : [`admin API: ${r.problem.detail} (${r.problem.code})`];
    const text = lines.join('\n');
    if (io.tty && io.raw) {
      io.raw(`\x1b[H\x1b[2J${new Date().toISOString()}  (every ${interval} ms, Ctrl-C to stop)\n${text}\n`);
    } else if (steady(text) !== last) {
      // Plain output: a new block only when something other than ages and etcd's revision changed.
      last = steady(text);
      io.out(`--- ${new Date().toISOString()}`);
      for (const l of lines) io.out(l);
    }
    await new Promise((res) => setTimeout(res, interval));
  }
}

interface HistoryBody { limit: number; entries: Array<{ revision: number; at: string; who: string; op: string; changes: ChangeSummary[] }> }

/** `history [-o table|yaml|json]`: the recorded writes, newest first. */
export async function historyCmd(p: Parsed, io: IO, api: AdminClient): Promise<number> {
  const fmt = outputFormat(p);
  const r = await api.call<HistoryBody>('GET', '/v1/history');
  if (!r.ok) return reportProblem(r.problem, io);
  const entries = [...r.body.entries].reverse();
  if (fmt !== 'table') { io.out(render(r.body, fmt)); return 0; }
  if (!entries.length) { io.out('no recorded writes yet'); return 0; }
  const what = (cs: ChangeSummary[]) => {
    const shown = cs.slice(0, 4).map((c) => `${SIGN[c.action]}${c.kind}/${c.name}`).join(' ');
    return cs.length > 4 ? `${shown} (+${cs.length - 4} more)` : shown || '-';
  };
  io.out(table(['REVISION', 'WHEN', 'WHO', 'OP', 'CHANGES'], entries.map((e) => [String(e.revision), e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), e.who, e.op, what(e.changes)])));
  io.out(`(the last ${r.body.limit} writes are kept; gatewayctl diff --revision REV shows what rollback REV would change)`);
  return 0;
}
