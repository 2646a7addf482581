/** Durations are strings per the contract: `250ms`, `5s`, `1m`, `2h`. Parsed once at load time. */
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$';
const UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(s: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(s);
  if (!m) throw new Error(`not a duration: ${s}`);
  return Math.round(Number(m[1]) * UNIT[m[2]!]!);
}

/** Sizes: a number of bytes or `64kb`, `1mb`. */
export const SIZE_PATTERN = '^[0-9]+(b|kb|mb|gb)?$';
const SIZE_UNIT: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
export function parseSize(s: string | number): number {
  if (typeof s === 'number') return s;
  const m = /^([0-9]+)(b|kb|mb|gb)?$/i.exec(s);
  if (!m) throw new Error(`not a size: ${s}`);
  return Number(m[1]) * SIZE_UNIT[(m[2] ?? 'b').toLowerCase()]!;
}
