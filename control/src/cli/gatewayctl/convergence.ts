/**
 * `apply --wait`, `rollback --wait` and `status [--watch]`: reading GET /v1/status and telling
 * the operator where the cluster stands. Live nodes are the listed nodes that still
 * heartbeat; a stale node (killed, hung, cut off) is named but never waited for.
 */
import { parseDuration } from '@gatehouse/node/schema';
import { UsageError } from './args.ts';
import type { AdminClient } from './client.ts';
import { table } from './output.ts';

export interface IO {
  out(line: string): void;
  err(line: string): void;
  /** stdout is a terminal: progress lines redraw in place, `--watch` redraws the screen. */
  tty?: boolean;
  /** Write without a newline (progress redraws); defaults to out(). */
  raw?(text: string): void;
  /** Ask a yes/no question on the terminal; absent when stdin is not a terminal. */
  confirm?(question: string): Promise<boolean>;
}

export interface NodeView {
  id: string;
  address: string;
  version: string;
  revision: number;
  status: string;
  behind: boolean;
  stale: boolean;
  lastSeenMs: number | null;
  refused: { revision: number; errors: string[]; at: string } | null;
  skipped: Array<{ key: string; errors: string[] }>;
  nats: { connected: boolean; lastSeen: string | null } | null;
}

export interface StatusBody {
  revision: number;
  configRevision: number;
  prefix: string;
  time: string;
  nodes: NodeView[];
  behind: number;
  stale: number;
}

/** `--timeout 30s`: a duration like 2s, 500ms or 1m. */
export function durationFlag(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  try {
    return parseDuration(v);
  } catch {
    throw new UsageError(`--${name} must be a duration like 2s, 500ms or 1m, not ${JSON.stringify(v)}`);
  }
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;

/** Whether a node refused `target` and still serves something older. */
const refusedTarget = (n: NodeView, target: number) => !!n.refused && n.refused.revision >= target && n.refused.revision > n.revision;

/** A state word for one node against the config revision (skipping = serves it without some keys). */
export function nodeState(n: NodeView, configRevision: number): string {
  if (n.stale) return 'stale';
  if (refusedTarget(n, configRevision)) return 'refused';
  if (n.revision < configRevision) return 'behind';
  return n.skipped.length ? 'skipping' : 'serving';
}

export interface WaitOptions {
  target?: number;
  /** Keys the change wrote: a node that serves the revision but skipped one of them did not take it. */
  keys: ReadonlySet<string>;
  timeoutMs: number;
  intervalMs?: number;
}

/** Polls the status until every live node serves the target revision; exit code. */
export async function waitForNodes(api: AdminClient, io: IO, o: WaitOptions): Promise<number> {
  const started = performance.now();
  const interval = o.intervalMs ?? 200;
  let target = o.target;
  let lastLine = '';
  const progress = (line: string) => {
    if (line === lastLine) return;
    lastLine = line;
    if (io.tty && io.raw) io.raw(`\r\x1b[2K${line}`);
    else io.out(line);
  };
  const finish = (line: string) => {
    if (io.tty && io.raw) io.raw('\r\x1b[2K');
    io.out(line);
  };
  for (;;) {
    const r = await api.call<StatusBody>('GET', '/v1/status');
    const elapsed = performance.now() - started;
    if (r.ok) {
      const b = r.body;
      target ??= b.configRevision;
      const live = b.nodes.filter((n) => !n.stale);
      const stale = b.nodes.filter((n) => n.stale);
      const refused = live.filter((n) => refusedTarget(n, target!));
      const skipped = live.flatMap((n) => (n.revision >= target! ? n.skipped.filter((s) => o.keys.has(s.key)).map((s) => ({ n, s })) : []));
      const serving = live.filter((n) => n.revision >= target! && !refusedTarget(n, target!));
      progress(`waiting for revision ${target}: ${serving.length}/${live.length} live nodes serve it (${seconds(elapsed)})`);
      if (refused.length || skipped.length) {
        finish(`revision ${target} refused after ${seconds(elapsed)}: ${serving.length}/${live.length} live nodes serve it`);
        for (const n of refused) {
          io.err(`node ${n.id} refused revision ${n.refused!.revision} and still serves revision ${n.revision}:`);
          for (const e of n.refused!.errors) io.err(`  ${e}`);
        }
        for (const { n, s } of skipped) {
          io.err(`node ${n.id} serves revision ${n.revision} without ${s.key}:`);
          for (const e of s.errors) io.err(`  ${e}`);
        }
        return 1;
      }
      if (serving.length === live.length) {
        finish(live.length
          ? `revision ${target} served by all ${live.length} live nodes after ${seconds(elapsed)}`
          : `no live nodes to wait for (${seconds(elapsed)}); nodes that start will load revision ${target} or newer`);
        if (stale.length) io.err(`note: not waited for (stale): ${stale.map((n) => `${n.id} (last seen ${seconds(n.lastSeenMs ?? 0)} ago)`).join(', ')}`);
        return 0;
      }
      if (elapsed >= o.timeoutMs) {
        finish(`timed out after ${seconds(elapsed)}: ${serving.length}/${live.length} live nodes serve revision ${target}`);
        for (const n of live.filter((x) => !serving.includes(x))) io.err(`node ${n.id} still serves revision ${n.revision}`);
        return 1;
      }
    } else if (elapsed >= o.timeoutMs) {
      finish(`timed out after ${seconds(elapsed)}: the admin API answered ${r.problem.status} (${r.problem.detail})`);
      return 1;
    }
    await new Promise((res) => setTimeout(res, interval));
  }
}

const age = (n: NodeView) => (n.lastSeenMs === null ? '-' : seconds(n.lastSeenMs));

/** The status table, as `status` prints it and `status --watch` redraws it. */
export function statusLines(b: StatusBody): string[] {
  const lines = [`config revision ${b.configRevision} (etcd revision ${b.revision}), ${b.nodes.length} node${b.nodes.length === 1 ? '' : 's'}${b.stale ? `, ${b.stale} stale` : ''}${b.behind ? `, ${b.behind} behind` : ''}`];
  if (!b.nodes.length) return [...lines, `no nodes registered under ${b.prefix}/nodes/`];
  lines.push(table(['NODE', 'ADDRESS', 'VERSION', 'REVISION', 'STATE', 'LAST-SEEN', 'NATS', 'REFUSED'],
    b.nodes.map((n) => [
      n.id, n.address || '-', n.version || '-', String(n.revision), nodeState(n, b.configRevision), age(n),
      n.nats ? (n.nats.connected ? 'up' : 'down') : '-',
      n.refused ? String(n.refused.revision) : '-',
    ])));
  for (const n of b.nodes) {
    if (n.refused && refusedTarget(n, 0)) {
      lines.push(`${n.id} refused revision ${n.refused.revision}:`);
      for (const e of n.refused.errors) lines.push(`  ${e}`);
    }
    for (const s of n.skipped) lines.push(`${n.id} skips ${s.key}: ${s.errors.join('; ')}`);
  }
  return lines;
}
