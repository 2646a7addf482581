/**
 * The last known good config on disk (Kong hybrid mode keeps one too): when etcd is
 * unreachable at start, a node serves this instead of nothing. It holds consumer credentials
 * (digests), so the file is 0600, and it is replaced atomically (temp file + fsync + rename)
 * so a crash mid-write leaves the previous snapshot, never half a file.
 */
import { open, rename, unlink, mkdir, readFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ConfigUpdate } from './source.ts';
import { itemNames } from '../core/layered-record.ts';

export interface Snapshot {
  config: ConfigUpdate['config'];
  /** The source revision the config is from (etcd revision). */
  revision: number;
}

const FORMAT = 1;
// Writes to one path run in call order, so the last call's content is what stays on disk.
const queues = new Map<string, Promise<void>>();

/**
 * The config as JSON, in parts: one Buffer per kind, cached by the kind's object. A source
 * hands the same frozen object for a kind none of whose items changed (etcd.ts, file.ts), so
 * a route edit serialises the routes again and reuses the consumers' 9 MB (at 100,000) as
 * they were. A kind that is serialised is done a slice at a time (SLICE_MS, then the event
 * loop turns), so even the consumers after a consumer edit (80-150 ms of JSON.stringify at
 * 100,000) never hold requests or the next edit for longer than a slice.
 */
const kindJson = new WeakMap<object, Buffer>();
const SLICE_MS = 4;
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

export async function jsonOf(value: unknown): Promise<Buffer> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return Buffer.from(JSON.stringify(value) ?? 'null');
  let json = kindJson.get(value);
  if (json === undefined) {
    json = await stringifyRecord(value as Record<string, unknown>);
    kindJson.set(value, json);
  }
  return json;
}

/** JSON.stringify of a map of items (the same text), its items in slices of SLICE_MS, each slice's text made a Buffer at once. */
async function stringifyRecord(record: Record<string, unknown>): Promise<Buffer> {
  const bufs: Buffer[] = [];
  let out: string[] = [];
  const names = itemNames(record);
  let started = performance.now();
  let first = true;
  for (let i = 0; i < names.length; i++) {
    const v = JSON.stringify(record[names[i]!]);
    if (v !== undefined) { out.push(`${first ? '' : ','}${JSON.stringify(names[i])}:${v}`); first = false; }
    if ((i & 63) === 63 && performance.now() - started > SLICE_MS) {
      bufs.push(Buffer.from(out.join('')));
      out = [];
      await turn();
      started = performance.now();
    }
  }
  bufs.push(Buffer.from(`${out.join('')}}`));
  return Buffer.concat([Buffer.from('{'), ...bufs]);
}

export async function configJsonParts(config: Snapshot['config']): Promise<Buffer[]> {
  const parts: Buffer[] = [];
  for (const [kind, value] of Object.entries(config)) {
    if (value !== undefined) parts.push(Buffer.from(`${parts.length ? ',' : ''}${JSON.stringify(kind)}:`), await jsonOf(value));
  }
  return parts;
}

/** `configJson`: the config's JSON in parts (configJsonParts) when the caller has them already. */
export function writeSnapshot(path: string, snap: Snapshot, configJson?: Buffer[]): Promise<void> {
  const prev = queues.get(path) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(async () => writeNow(path, snap, configJson ?? await configJsonParts(snap.config)));
  queues.set(path, next);
  const cleanup = () => { if (queues.get(path) === next) queues.delete(path); };
  next.then(cleanup, cleanup);
  return next;
}

async function writeNow(path: string, snap: Snapshot, configJson: Buffer[]): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const head = JSON.stringify({ format: FORMAT, revision: snap.revision, savedAt: new Date().toISOString() });
  const body = [Buffer.from(`${head.slice(0, -1)},"config":{`), ...configJson, Buffer.from('}}')];
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      // The parts as they are (no 13 MB concatenation); writev may write less than asked.
      let rest = body;
      while (rest.length) {
        const { bytesWritten } = await fh.writev(rest);
        rest = skipBytes(rest, bytesWritten);
      }
      await fh.sync(); // the data must be on disk before the rename makes it the snapshot
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // Persist the rename itself; best effort (not every filesystem lets a directory be fsynced).
  try {
    const d = await open(dir, 'r');
    try { await d.sync(); } finally { await d.close(); }
  } catch { /* ignore */ }
}

/** The buffers after the first n bytes of `bufs`. */
function skipBytes(bufs: Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < bufs.length && n >= bufs[i]!.length) n -= bufs[i++]!.length;
  if (i === bufs.length) return [];
  return n ? [bufs[i]!.subarray(n), ...bufs.slice(i + 1)] : bufs.slice(i);
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The snapshot at `path`, or undefined when there is none or it is unreadable (logged). */
export async function readSnapshot(path: string, logger?: Pick<Logger, 'warn' | 'info'>): Promise<Snapshot | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') logger?.info({ path }, 'no config snapshot on disk');
    else logger?.warn({ path, err }, 'config snapshot unreadable; ignoring it');
    return undefined;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    logger?.warn({ path, reason: (err as Error).message }, 'config snapshot is not valid JSON (corrupt?); ignoring it');
    return undefined;
  }
  const why = problem(doc);
  if (why) {
    logger?.warn({ path, reason: why }, 'config snapshot has the wrong shape; ignoring it');
    return undefined;
  }
  const d = doc as { revision: number; config: Snapshot['config'] };
  return { config: d.config, revision: d.revision };
}

/** Shape check only: the node validates the config itself before serving it. */
function problem(doc: unknown): string | undefined {
  if (!isMap(doc)) return 'not a JSON object';
  if (doc.format !== FORMAT) return `unknown format ${JSON.stringify(doc.format)} (expected ${FORMAT})`;
  if (typeof doc.revision !== 'number' || !Number.isSafeInteger(doc.revision) || doc.revision < 0) return 'revision is not a non-negative integer';
  if (!isMap(doc.config)) return 'config is not an object';
  for (const k of ['routes', 'upstreams', 'consumers']) {
    if (doc.config[k] !== undefined && !isMap(doc.config[k])) return `config.${k} is not an object`;
  }
  return undefined;
}
