/**
 * `POST /v1/apply[?prune=true][&dryRun=true][&revision=N]`, `GET | POST /v1/diff[?prune=true]`,
 * `POST /v1/rollback?revision=R[&dryRun=true]` and `GET /v1/history`.
 *
 * Apply is all or nothing: the merged config is validated as a whole (every error with its
 * path), then every put and delete goes into ONE etcd transaction, guarded by the revision
 * the diff was computed against (store/config-store.ts). If anything changed in between,
 * nothing is written and the answer is 409: two applies never interleave. `revision=N`
 * (the revision a client's earlier diff showed) also refuses if the config moved since N,
 * so "review the diff, then apply exactly that" holds.
 *
 * Every write records who made it (the token's name), when, what changed, in the same
 * transaction under `<prefix>/history/` (the last N kept). Rollback reads the config as it
 * was at revision R (etcd keeps old revisions until compacted) and applies it with prune:
 * the same validation and the same guarded transaction as an apply, as a new revision.
 */
import type { HandlerContext, Reply } from './context.ts';
import { flag, requireWrite, revisionParam } from './context.ts';
import { planApply, readDocument, type Change, type DocumentInput, type Plan } from './plan.ts';
import { Problem } from './problem.ts';
import type { WriteOp } from '../store/config-store.ts';

async function plan(ctx: HandlerContext, prune: boolean): Promise<{ p: Plan; notes: string[]; configRevision: number }> {
  const raw = await ctx.body();
  const { doc, errors, notes } = readDocument(raw);
  if (errors.length) throw new Problem('GW_VALIDATION_FAILED', `${errors.length} error${errors.length === 1 ? '' : 's'}`, { errors, notes });
  return planDoc(ctx, doc, prune, notes);
}

async function planDoc(ctx: HandlerContext, doc: DocumentInput, prune: boolean, notes: string[]): Promise<{ p: Plan; notes: string[]; configRevision: number }> {
  const s = await ctx.store.read();
  return { p: planApply(s, doc, prune, (k, n) => ctx.store.key(k, n)), notes, configRevision: s.configRevision };
}

const summary = (c: Change) => ({ action: c.action, kind: c.kind, name: c.name, key: c.key });

/** Validates, checks the token may make these changes, and commits (unless a dry run). */
async function write(ctx: HandlerContext, planned: { p: Plan; notes: string[]; configRevision: number }, o: { op: string; dryRun: boolean; details?: boolean }): Promise<Reply> {
  const { p, notes, configRevision } = planned;
  if (p.errors.length) {
    throw new Problem('GW_VALIDATION_FAILED', `${p.errors.length} error${p.errors.length === 1 ? '' : 's'}; nothing was written`, { errors: p.errors, notes });
  }
  const base = { dryRun: o.dryRun, configRevision, changes: o.details ? p.changes : p.changes.map(summary), unchanged: p.unchanged, kept: p.kept, notes };
  if (o.dryRun || !p.changes.length) return { status: 200, body: { applied: false, revision: p.revision, ...base } };
  requireWrite(ctx, p.changes, o.op);
  const ops: WriteOp[] = p.changes.map((c) => (c.action === 'removed'
    ? { type: 'delete', key: c.key }
    : { type: 'put', key: c.key, value: JSON.stringify(c.after) }));
  const r = await ctx.store.commit(ops, {
    guard: p.revision, op: o.op,
    history: { who: ctx.who.name, changes: p.changes.map((c) => ({ action: c.action, kind: c.kind, name: c.name })), requestId: ctx.requestId },
  });
  if (!r.ok) {
    throw new Problem('GW_CONFLICT', `the config changed after revision ${p.revision} while this ${o.op} was checked; nothing was written, run it again`);
  }
  ctx.log.info({ audit: true, who: ctx.who.name, role: ctx.who.role, requestId: ctx.requestId, op: o.op, revision: r.revision, changes: p.changes.map((c) => `${c.action} ${c.kind}/${c.name}`) }, `${o.op}: ${ops.length} change${ops.length === 1 ? '' : 's'} by ${ctx.who.name}`);
  return { status: 200, body: { applied: true, revision: r.revision, ...base, configRevision: r.revision } };
}

export async function apply(ctx: HandlerContext): Promise<Reply> {
  const prune = flag(ctx.url, 'prune');
  const dryRun = flag(ctx.url, 'dryRun');
  const pinned = revisionParam(ctx.url, 'revision');
  if (!dryRun) requireWrite(ctx, [], 'apply'); // a viewer is refused before its body is read
  const planned = await plan(ctx, prune);
  if (pinned !== undefined && planned.configRevision > pinned) {
    throw new Problem('GW_CONFLICT', `the config changed at revision ${planned.configRevision}, after revision ${pinned}; review the diff again`, { revision: planned.p.revision });
  }
  return write(ctx, planned, { op: prune ? 'apply --prune' : 'apply', dryRun });
}

export async function diff(ctx: HandlerContext): Promise<Reply> {
  const prune = flag(ctx.url, 'prune');
  const { p, notes, configRevision } = await plan(ctx, prune);
  return {
    status: 200,
    body: { revision: p.revision, configRevision, prune, changes: p.changes, unchanged: p.unchanged, kept: p.kept, errors: p.errors, notes },
  };
}

export async function rollback(ctx: HandlerContext): Promise<Reply> {
  const target = revisionParam(ctx.url, 'revision');
  if (target === undefined || target < 1) throw new Problem('GW_BAD_REQUEST', 'rollback needs ?revision=R (see GET /v1/history)');
  const dryRun = flag(ctx.url, 'dryRun');
  const pinned = revisionParam(ctx.url, 'pin');
  if (!dryRun) requireWrite(ctx, [], 'rollback');
  let doc: DocumentInput;
  try {
    doc = await ctx.store.readAt(target);
  } catch (err) {
    const msg = (err as Error).message ?? '';
    if (/compacted/.test(msg)) throw new Problem('GW_NOT_FOUND', `revision ${target} was compacted: etcd no longer keeps it`);
    if (/future revision/.test(msg)) throw new Problem('GW_NOT_FOUND', `revision ${target} does not exist yet`);
    throw err;
  }
  const planned = await planDoc(ctx, doc, true, []);
  if (pinned !== undefined && planned.configRevision > pinned) {
    throw new Problem('GW_CONFLICT', `the config changed at revision ${planned.configRevision}, after revision ${pinned}; review the diff again`, { revision: planned.p.revision });
  }
  return write(ctx, planned, { op: `rollback ${target}`, dryRun, details: flag(ctx.url, 'details') });
}

export async function history(ctx: HandlerContext): Promise<Reply> {
  const entries = await ctx.store.history();
  return { status: 200, body: { limit: ctx.store.historyLimit, entries } };
}
