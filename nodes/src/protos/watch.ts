/**
 * File mode: a proto set given by `path` is re-read when one of its files changes, like the
 * config file itself: a changed proto is picked up without a restart. The
 * folders of every file a set read are watched (not the files: editors replace files by
 * rename); events are filtered by name and the source coalesces them into one reload.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { readProtoPath } from './load.ts';

export class ProtoWatch {
  private readonly watchers = new Map<string, FSWatcher>();
  private names = new Set<string>();
  private readonly onChange: () => void;
  constructor(onChange: () => void) { this.onChange = onChange; }

  /** Watch the files the config's file-mode proto sets read now (called after each load). */
  update(doc: unknown, baseDir: string): void {
    const files = new Set<string>();
    const protos = (doc as { protos?: Record<string, { path?: unknown }> } | null)?.protos;
    if (protos && typeof protos === 'object') {
      for (const set of Object.values(protos)) {
        if (typeof set?.path !== 'string') continue;
        try { readProtoPath(set.path, baseDir, files); } catch { /* reported by validation; what was read is still watched */ }
      }
    }
    this.names = new Set([...files].map((f) => basename(f)));
    const dirs = new Set([...files].map((f) => dirname(f)));
    for (const [d, w] of this.watchers) if (!dirs.has(d)) { w.close(); this.watchers.delete(d); }
    for (const d of dirs) {
      if (this.watchers.has(d)) continue;
      try {
        const w = watch(d, (_e, name) => { if (!name || this.names.has(String(name))) this.onChange(); });
        w.on('error', () => undefined);
        this.watchers.set(d, w);
      } catch { /* a folder that does not exist: nothing to watch until the config changes */ }
    }
  }

  close(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}
