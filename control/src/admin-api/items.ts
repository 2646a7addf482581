/**
 * `GET /v1/config`, `GET /v1/{kind}`, and `GET | PUT | DELETE /v1/{kind}/{name}`.
 * A write is validated on its own (validateItem) and then against the stored config
 * (references: a route naming a missing upstream is refused), and committed guarded by the
 * revision it was validated against. `ETag` / `If-Match` carry an item's mod revision for
 * read-modify-write clients.
 */
import { validateItem } from '@gatehouse/node/schema';
import { KINDS, type Kind, type StoredConfig, type StoredItem } from '../store/config-store.ts';
import { requireWrite, type HandlerContext, type Reply } from './context.ts';
import { canonical, errorsUnder, itemPath, nameError, referencesTo, storedDoc, validateMerged } from './plan.ts';
import { Problem } from './problem.ts';

function itemView(item: StoredItem): Record<string, unknown> {
  return item.parseError
    ? { kind: item.kind, name: item.name, raw: item.raw, error: item.parseError, modRevision: item.modRevision }
    : { kind: item.kind, name: item.name, value: item.value, modRevision: item.modRevision };
}

function notFound(kind: Kind, name: string): Problem {
  return new Problem('GW_NOT_FOUND', `${kind}/${name} does not exist`);
}

function collection(s: StoredConfig, kind: Kind): { items: Record<string, unknown>; invalid: Array<{ name: string; error: string }> } {
  const items: Record<string, unknown> = {};
  const invalid: Array<{ name: string; error: string }> = [];
  for (const [name, it] of s.items[kind]) {
    if (it.parseError) invalid.push({ name, error: it.parseError });
    else items[name] = it.value;
  }
  return { items, invalid };
}

export async function getConfig(ctx: HandlerContext): Promise<Reply> {
  const s = await ctx.store.read();
  const body: Record<string, unknown> = { revision: s.revision, configRevision: s.configRevision };
  const invalid: string[] = [];
  for (const kind of KINDS) {
    const c = collection(s, kind);
    body[kind] = c.items;
    invalid.push(...c.invalid.map((i) => `${kind}/${i.name}`));
  }
  if (invalid.length) body.invalid = invalid;
  return { status: 200, body };
}

export async function listItems(ctx: HandlerContext, kind: Kind): Promise<Reply> {
  const s = await ctx.store.read();
  const { items, invalid } = collection(s, kind);
  return { status: 200, body: { kind, revision: s.revision, items, ...(invalid.length ? { invalid } : {}) } };
}

export async function getItem(ctx: HandlerContext, kind: Kind, name: string): Promise<Reply> {
  const s = await ctx.store.read();
  const item = s.items[kind].get(name);
  if (!item) throw notFound(kind, name);
  return { status: 200, body: { ...itemView(item), revision: s.revision }, headers: { etag: `"${item.modRevision}"` } };
}

/** `If-Match: "N"` (N = the ETag of a GET): write only if the item is still at mod revision N. */
function ifMatch(ctx: HandlerContext, item: StoredItem | undefined, kind: Kind, name: string): number | undefined {
  const h = ctx.req.headers['if-match'];
  if (h === undefined) return undefined;
  const m = /^(?:W\/)?"?([0-9]{1,15})"?$/.exec(h.trim());
  if (!m) throw new Problem('GW_BAD_REQUEST', 'If-Match must be an ETag from a GET of the item, like "42"');
  const want = Number(m[1]);
  if ((item?.modRevision ?? 0) !== want) {
    throw new Problem('GW_PRECONDITION_FAILED', `${kind}/${name} is at revision ${item?.modRevision ?? 0}, not ${want}`);
  }
  return want;
}

function conflict(guard: number): Problem {
  return new Problem('GW_CONFLICT', `the config changed after revision ${guard} while this write was checked; nothing was written, try again`);
}

export async function putItem(ctx: HandlerContext, kind: Kind, name: string): Promise<Reply> {
  const bad = nameError(kind, name);
  if (bad) throw new Problem('GW_VALIDATION_FAILED', '1 error', { errors: [bad] });
  requireWrite(ctx, [{ kind, name }], `put ${kind}/${name}`);
  const value = await ctx.body();
  const s = await ctx.store.read();
  const existing = s.items[kind].get(name);
  const expected = ifMatch(ctx, existing, kind, name);
  // The item on its own, then in the stored config (references); one list, no repeats.
  const { config } = storedDoc(s);
  config[kind][name] = value;
  const errors = validateItem(kind, name, value);
  const seen = new Set(errors.map((e) => `${e.path}: ${e.message}`));
  for (const e of errorsUnder(validateMerged(config), itemPath(kind, name))) {
    if (!seen.has(`${e.path}: ${e.message}`)) { seen.add(`${e.path}: ${e.message}`); errors.push(e); }
  }
  if (errors.length) throw new Problem('GW_VALIDATION_FAILED', `${errors.length} error${errors.length === 1 ? '' : 's'}`, { errors });
  if (existing && !existing.parseError && canonical(existing.value) === canonical(value)) {
    return { status: 200, body: { kind, name, value, modRevision: existing.modRevision, revision: s.revision, created: false, unchanged: true }, headers: { etag: `"${existing.modRevision}"` } };
  }
  const key = ctx.store.key(kind, name);
  const r = await ctx.store.commit([{ type: 'put', key, value: JSON.stringify(value) }], {
    guard: s.revision, op: `put ${kind}/${name}`,
    history: { who: ctx.who.name, changes: [{ action: existing ? 'changed' : 'added', kind, name }], requestId: ctx.requestId },
    ...(expected !== undefined ? { expect: [{ key, modRevision: expected }] } : {}),
  });
  if (!r.ok) throw conflict(s.revision);
  ctx.log.info({ audit: true, who: ctx.who.name, requestId: ctx.requestId, op: 'put', key, revision: r.revision }, `put ${kind}/${name}`);
  return { status: existing ? 200 : 201, body: { kind, name, value, modRevision: r.revision, revision: r.revision, created: !existing }, headers: { etag: `"${r.revision}"` } };
}

export async function deleteItem(ctx: HandlerContext, kind: Kind, name: string): Promise<Reply> {
  requireWrite(ctx, [{ kind, name }], `delete ${kind}/${name}`);
  const s = await ctx.store.read();
  const item = s.items[kind].get(name);
  if (!item) throw notFound(kind, name);
  const expected = ifMatch(ctx, item, kind, name);
  if (kind === 'upstreams') {
    const refs = referencesTo(storedDoc(s).config, name);
    if (refs.length) {
      throw new Problem('GW_IN_USE', `upstreams/${name} is still used by ${refs.length} reference${refs.length === 1 ? '' : 's'}; change or delete those routes first`,
        { errors: refs.map((path) => ({ path, message: `refers to upstream "${name}"` })) });
    }
  }
  const r = await ctx.store.commit([{ type: 'delete', key: item.key }], {
    guard: s.revision, op: `delete ${kind}/${name}`,
    history: { who: ctx.who.name, changes: [{ action: 'removed', kind, name }], requestId: ctx.requestId },
    ...(expected !== undefined ? { expect: [{ key: item.key, modRevision: expected }] } : {}),
  });
  if (!r.ok) throw conflict(s.revision);
  ctx.log.info({ audit: true, who: ctx.who.name, requestId: ctx.requestId, op: 'delete', key: item.key, revision: r.revision }, `deleted ${kind}/${name}`);
  return { status: 200, body: { kind, name, deleted: true, revision: r.revision } };
}
