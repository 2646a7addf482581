/**
 * gatewayctl's argument parsing: positionals, `--flag value`, `--flag=value`, `-f value`,
 * boolean switches, `--` to end flags. Unknown flags are errors (a typo like `--purne` must
 * not silently apply without pruning).
 */
export interface ArgSpec {
  /** Flags that take a value (long names). */
  values: readonly string[];
  /** Boolean switches (long names). */
  switches: readonly string[];
  /** Short name -> long name. */
  short: Readonly<Record<string, string>>;
}

export interface Parsed {
  _: string[];
  flags: Record<string, string | boolean>;
}

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[], spec: ArgSpec): Parsed {
  const out: Parsed = { _: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { out._.push(...argv.slice(i + 1)); break; }
    if (a === '-' || !a.startsWith('-')) { out._.push(a); continue; }
    let name: string;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      inline = eq < 0 ? undefined : a.slice(eq + 1);
    } else {
      const long = spec.short[a.slice(1)];
      if (!long) throw new UsageError(`unknown option ${a}`);
      name = long;
    }
    if (spec.switches.includes(name)) {
      if (inline !== undefined && !['true', 'false'].includes(inline)) throw new UsageError(`--${name} takes no value`);
      out.flags[name] = inline !== 'false';
    } else if (spec.values.includes(name)) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`--${name} needs a value`);
      out.flags[name] = v;
    } else {
      throw new UsageError(`unknown option ${a}`);
    }
  }
  return out;
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function bool(p: Parsed, name: string): boolean {
  return p.flags[name] === true;
}
