/**
 * `POST /v1/apply[?prune=true][&dryRun=true][&revision=N]` and `GET | POST /v1/diff[?prune=true]`.
 *
 * Apply is all or nothing: the merged config is validated as a whole (every error with its
 * path), then every put and delete goes into ONE etcd transaction, guarded by the revision
 * the diff was computed against (store/config-store.ts). If anything changed in between,
 * nothing is written and the answer is 409: two applies never interleave. `revision=N`
 * (the revision a client's earlier diff showed) also refuses if the config moved since N,
 * so "review the diff, then apply exactly that" holds.
 */
import type { HandlerContext, Reply } from './context.ts';
import { flag, revisionParam } from './context.ts';
import { planApply, readDocument, type Change, type Plan } from './plan.ts';
import { Problem } from './problem.ts';
import type { WriteOp } from '../store/config-store.ts';

async function plan(ctx: HandlerContext, prune: boolean): Promise<{ p: Plan; notes: string[]; configRevision: number }> {
  const raw = await ctx.body();
  const { doc, errors, notes } = readDocument(raw);
  if (errors.length) throw new Problem('GW_VALIDATION_FAILED', `${errors.length} error${errors.length === 1 ? '' : 's'}`, { errors, notes });
  const s = await ctx.store.read();
  return { p: planApply(s, doc, prune, (k, n) => ctx.store.key(k, n)), notes, configRevision: s.configRevision };
}

const summary = (c: Change) => ({ action: c.action, kind: c.kind, name: c.name, key: c.key });

export async function apply(ctx: HandlerContext): Promise<Reply> {
  const prune = flag(ctx.url, 'prune');
  const dryRun = flag(ctx.url, 'dryRun');
  const pinned = revisionParam(ctx.url, 'revision');
  const { p, notes, configRevision } = await plan(ctx, prune);
  if (pinned !== undefined && configRevision > pinned) {
    throw new Problem('GW_CONFLICT', `the config changed at revision ${configRevision}, after revision ${pinned}; review the diff again`, { revision: p.revision });
  }
  if (p.errors.length) {
    throw new Problem('GW_VALIDATION_FAILED', `${p.errors.length} error${p.errors.length === 1 ? '' : 's'}; nothing was written`, { errors: p.errors, notes });
  }
  const base = { dryRun, changes: p.changes.map(summary), unchanged: p.unchanged, kept: p.kept, notes };
  if (dryRun || !p.changes.length) return { status: 200, body: { applied: false, revision: p.revision, ...base } };
  const ops: WriteOp[] = p.changes.map((c) => (c.action === 'removed'
    ? { type: 'delete', key: c.key }
    : { type: 'put', key: c.key, value: JSON.stringify(c.after) }));
  const r = await ctx.store.commit(ops, { guard: p.revision, op: prune ? 'apply --prune' : 'apply' });
  if (!r.ok) {
    throw new Problem('GW_CONFLICT', `the config changed after revision ${p.revision} while this apply was checked; nothing was written, run it again`);
  }
  ctx.log.info({ requestId: ctx.requestId, op: 'apply', prune, revision: r.revision, changes: base.changes.map((c) => `${c.action} ${c.kind}/${c.name}`) }, `applied ${ops.length} changes`);
  return { status: 200, body: { applied: true, revision: r.revision, ...base } };
}

export async function diff(ctx: HandlerContext): Promise<Reply> {
  const prune = flag(ctx.url, 'prune');
  const { p, notes, configRevision } = await plan(ctx, prune);
  return {
    status: 200,
    body: { revision: p.revision, configRevision, prune, changes: p.changes, unchanged: p.unchanged, kept: p.kept, errors: p.errors, notes },
  };
}
