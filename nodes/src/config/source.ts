/**
 * Where config comes from (architecture principle 6: one interface, one folder per
 * implementation). The file source (standalone) and the etcd source (cluster) both hand
 * whole raw documents to the node; the node validates and compiles them off the request
 * path and swaps the snapshot atomically.
 */
import type { GatewayConfig } from '../schema/model.ts';

export interface ConfigUpdate {
  /** The dynamic part of the config: upstreams, consumers, routes. Not yet validated. */
  config: Omit<GatewayConfig, 'node'>;
  /** The source's version of it: etcd revision, or a counter for the file source. */
  revision: number;
  /** Set when the whole document could not be read (YAML syntax, I/O); `config` is then ignored. */
  error?: string;
  /** Per-key problems the source already found and skipped (etcd keys that failed to parse/validate). */
  skipped?: Array<{ key: string; errors: string[] }>;
  /**
   * Items that did not change since the source's previous update are the very objects it
   * handed over then (the etcd source; the file source's JSON reader), so the node can skip
   * the structural carry-over. Unset: the node compares item by item.
   */
  stable?: boolean;
  /** Milliseconds the source spent turning what it read into this update (logged with 'config applied'). */
  readMs?: number;
  /** The file's `node` section as read (not applied: node settings take a restart), for the few that reload (tracing ratio). */
  node?: { tracing?: { sampleRatio?: unknown } };
}

export interface ConfigSource {
  readonly kind: string;
  /** Load once and start watching; `onUpdate` runs for the first load and every change after. */
  start(onUpdate: (u: ConfigUpdate) => void): Promise<void>;
  stop(): Promise<void>;
}
