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

export interface Snapshot {
  config: ConfigUpdate['config'];
  /** The source revision the config is from (etcd revision). */
  revision: number;
}

const FORMAT = 1;
// Writes to one path run in call order, so the last call's content is what stays on disk.
const queues = new Map<string, Promise<void>>();

/** `configJson`: JSON.stringify(snap.config) when the caller has it already (it is the costly part). */
export function writeSnapshot(path: string, snap: Snapshot, configJson?: string): Promise<void> {
  const prev = queues.get(path) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(() => writeNow(path, snap, configJson));
  queues.set(path, next);
  const cleanup = () => { if (queues.get(path) === next) queues.delete(path); };
  next.then(cleanup, cleanup);
  return next;
}

async function writeNow(path: string, snap: Snapshot, configJson?: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const head = JSON.stringify({ format: FORMAT, revision: snap.revision, savedAt: new Date().toISOString() });
  const body = `${head.slice(0, -1)},"config":${configJson ?? JSON.stringify(snap.config)}}`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(body);
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
