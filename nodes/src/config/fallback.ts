/**
 * Cluster config with a net: the etcd source, and the last known good config on disk for
 * when etcd cannot be reached at start (Kong hybrid mode's config cache). A node that starts
 * during an etcd outage serves its snapshot after `startTimeout`; the etcd source keeps
 * retrying in the background and its first load replaces the snapshot as soon as etcd answers.
 * Each config actually applied is saved back (SnapshotSaver), so the file tracks what the
 * node serves.
 */
import type { Logger } from 'pino';
import type { ConfigSource, ConfigUpdate } from './source.ts';
import { configJsonParts, jsonOf, readSnapshot, writeSnapshot, type Snapshot } from './snapshot-file.ts';

export type Origin = 'none' | 'etcd' | 'snapshot';

export class SnapshotFallbackSource implements ConfigSource {
  readonly kind: string;
  /** Where the config handed on last came from. */
  origin: Origin = 'none';
  readonly #primary: ConfigSource;
  readonly #path: string;
  readonly #log: Logger;

  /** `primary` must keep retrying after its start() rejects (EtcdSource does). */
  constructor(primary: ConfigSource, snapshotPath: string, logger: Logger) {
    this.#primary = primary;
    this.kind = primary.kind;
    this.#path = snapshotPath;
    this.#log = logger.child({ source: 'snapshot-fallback' });
  }

  async start(onUpdate: (u: ConfigUpdate) => void): Promise<void> {
    const snap = readSnapshot(this.#path, this.#log); // read while waiting: it is needed at once on timeout
    try {
      await this.#primary.start((u) => {
        if (this.origin === 'snapshot') this.#log.info({ revision: u.revision }, 'etcd answered: replacing the snapshot config');
        this.origin = 'etcd';
        onUpdate(u);
      });
      return;
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'config source not available at start');
    }
    const s = await snap;
    if (this.origin !== 'none') return; // etcd answered while the file was read
    if (!s) {
      this.#log.error({ path: this.#path }, 'no etcd and no snapshot: not ready until etcd answers');
      return;
    }
    this.#log.warn({ path: this.#path, revision: s.revision }, 'serving the config snapshot until etcd answers');
    this.origin = 'snapshot';
    onUpdate({ config: s.config, revision: s.revision });
  }

  stop(): Promise<void> { return this.#primary.stop(); }
}

export interface SnapshotSaverOptions {
  path: string;
  logger: Logger;
  /** What to save now (read at write time, so the latest state wins); undefined: nothing. */
  current: () => Snapshot | undefined;
  /** Trailing debounce in ms (default 250): a burst of changes is one write. */
  delayMs?: number;
  /**
   * Least time between two writes in ms (default 2000). Serialising a large config takes the
   * event loop for a while (13 MB at 100,000 consumers): a steady stream of edits writes at
   * this pace, not once per edit; the last state is always written.
   */
  minIntervalMs?: number;
}

/** Debounced, serialized writes of the served config to the snapshot file. */
export class SnapshotSaver {
  /** Revision of the last snapshot written (0: none yet). */
  savedRevision = 0;
  writes = 0;
  readonly #o: SnapshotSaverOptions;
  #timer: NodeJS.Timeout | undefined;
  #lastRevision = -1;
  #lastUpstreams: Buffer = Buffer.alloc(0);
  #writing: Promise<void> = Promise.resolve();

  constructor(o: SnapshotSaverOptions) { this.#o = o; }

  #lastWriteAt = -Infinity;

  schedule(): void {
    if (this.#timer) return;
    const wait = Math.max(this.#o.delayMs ?? 250, this.#lastWriteAt + (this.#o.minIntervalMs ?? 2000) - performance.now());
    this.#timer = setTimeout(() => { this.#timer = undefined; void this.#write(); }, wait);
  }

  /** Write what is pending now (shutdown). */
  async flush(): Promise<void> {
    if (this.#timer) { clearTimeout(this.#timer); this.#timer = undefined; await this.#write(); }
    await this.#writing;
  }

  #write(): Promise<void> {
    const snap = this.#o.current();
    if (!snap) return this.#writing;
    this.#lastWriteAt = performance.now();
    this.#writing = this.#writing.then(() => this.#save(snap));
    return this.#writing;
  }

  async #save(snap: Snapshot): Promise<void> {
    try {
      // What can change without a new revision is the upstreams' discovered targets: the
      // revision and the upstreams say whether this state was written already.
      const upstreams = await jsonOf(snap.config.upstreams ?? null);
      if (snap.revision === this.#lastRevision && upstreams.equals(this.#lastUpstreams)) return;
      [this.#lastRevision, this.#lastUpstreams] = [snap.revision, upstreams];
      await writeSnapshot(this.#o.path, snap, await configJsonParts(snap.config));
      this.savedRevision = snap.revision;
      this.writes++;
    } catch (err) {
      this.#lastRevision = -1; // try again on the next change
      this.#o.logger.error({ path: this.#o.path, err: (err as Error).message }, 'could not save the config snapshot');
    }
  }
}
