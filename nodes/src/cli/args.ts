/** Minimal flag parsing shared by the CLIs: `--name value`, `--name=value`, `-f value`, bare words. */
export interface Args { _: string[]; flags: Record<string, string | true> }

export function parseArgs(argv: readonly string[], aliases: Record<string, string> = {}): Args {
  const out: Args = { _: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) { out.flags[a.slice(2, eq)] = a.slice(eq + 1); continue; }
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('-')) { out.flags[a.slice(2)] = next; i++; } else out.flags[a.slice(2)] = true;
    } else if (a.startsWith('-') && a.length === 2) {
      const name = aliases[a.slice(1)] ?? a.slice(1);
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('-')) { out.flags[name] = next; i++; } else out.flags[name] = true;
    } else out._.push(a);
  }
  return out;
}
