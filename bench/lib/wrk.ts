/**
 * Runs wrk and parses its text report. wrk is pinned to the upstream's core (see run.ts for
 * why) and always run with --latency so the percentile block is printed.
 */
import { spawn } from 'node:child_process';
import { pinned, track } from './proc.ts';

export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** connect + read + write + timeout, as wrk counts them. */
  socketErrors: number;
  /** wrk's "Non-2xx or 3xx responses". */
  non2xx: number;
  raw: string;
}

export interface WrkOptions {
  url: string;
  duration: string;
  connections: number;
  threads: number;
  cpu: string | undefined;
  script?: string;
  scriptArgs?: string[];
  headers?: Record<string, string>;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function toMs(value: string, unit: string): number {
  const f = UNIT_MS[unit];
  if (f === undefined) throw new Error(`unknown wrk time unit ${unit}`);
  return Number(value) * f;
}

/** Parse wrk 4.x output; throws if the report is not there (wrk failed to run). */
export function parseWrk(raw: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(raw);
  const total = /(\d+) requests in /.exec(raw);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(raw);
    if (!m) throw new Error(`wrk output has no ${p}% line (was --latency passed?)`);
    return Math.round(toMs(m[1]!, m[2]!) * 1000) / 1000;
  };
  if (!rps || !total) throw new Error(`cannot parse wrk output:\n${raw}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  const socketErrors = sock ? sock.slice(1, 5).reduce((a, b) => a + Number(b), 0) : 0;
  const non = /Non-2xx or 3xx responses: (\d+)/.exec(raw);
  return {
    rps: Number(rps[1]),
    p50Ms: pct('50'),
    p99Ms: pct('99'),
    requests: Number(total[1]),
    socketErrors,
    non2xx: non ? Number(non[1]) : 0,
    raw,
  };
}

export function wrkArgs(o: WrkOptions): string[] {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.duration}`, '--latency', '--timeout', '5s'];
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`);
  if (o.script) args.push('-s', o.script);
  args.push(o.url);
  if (o.scriptArgs?.length) args.push('--', ...o.scriptArgs);
  return args;
}

export function runWrk(o: WrkOptions): Promise<WrkResult> {
  const [cmd, args] = pinned(o.cpu, 'wrk', wrkArgs(o));
  return new Promise((resolve, reject) => {
    // Detached + tracked so an interrupted runner can kill it (it runs at raised priority).
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.once('error', reject);
    child.once('close', (code) => {
      try {
        if (code !== 0) throw new Error(`wrk exited ${code}:\n${out}`);
        resolve(parseWrk(out));
      } catch (e) { reject(e as Error); }
    });
  });
}
