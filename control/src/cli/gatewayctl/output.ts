/** gatewayctl's text output: aligned tables, YAML/JSON documents, and item diffs. */
import YAML from 'yaml';

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function toYaml(v: unknown): string {
  return YAML.stringify(v, { lineWidth: 0 }).trimEnd();
}

export function render(v: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(v, null, 2) : toYaml(v);
}

const list = (v: unknown): string => (Array.isArray(v) ? v.map(String).join(',') : '');
const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {});

/** One table row per item: the fields people scan for. */
export const summaries: Record<string, { header: string[]; row: (name: string, v: unknown) => string[] }> = {
  routes: {
    header: ['NAME', 'PATHS', 'METHODS', 'HOSTS', 'UPSTREAM', 'POLICIES'],
    row: (name, v) => {
      const r = obj(v);
      const m = obj(r.match);
      return [name, list(m.paths), list(m.methods) || '*', list(m.hosts) || '*', String(r.upstream ?? '-'), Object.keys(obj(r.policies)).join(',') || '-'];
    },
  },
  upstreams: {
    header: ['NAME', 'TARGETS', 'BALANCE'],
    row: (name, v) => {
      const u = obj(v);
      const d = obj(u.discovery);
      const targets = Array.isArray(u.targets) ? u.targets.map((t) => String(obj(t).url ?? '?')).join(',') : '';
      const disc = d.service ? `service:${String(d.service)}` : d.dns ? `dns:${String(d.dns)}` : '';
      return [name, [targets, disc].filter(Boolean).join(' ') || '-', String(u.balance ?? 'round-robin')];
    },
  },
  consumers: {
    header: ['NAME', 'GROUPS', 'KEYS', 'PASSWORDS'],
    row: (name, v) => {
      const c = obj(v);
      return [name, list(c.groups) || '-', String(Array.isArray(c.keys) ? c.keys.length : 0), String(Array.isArray(c.passwords) ? c.passwords.length : 0)];
    },
  },
};

/** A line diff (longest common subsequence); items are small, so O(n*m) is fine. */
export function lineDiff(before: string[], after: string[]): string[] {
  const n = before.length;
  const m = after.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = before[i] === after[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && before[i] === after[j]) { out.push(`  ${before[i]}`); i++; j++; }
    else if (i < n && (j >= m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) { out.push(`- ${before[i]}`); i++; }
    else { out.push(`+ ${after[j]}`); j++; }
  }
  return out;
}

export interface DiffChange { action: 'added' | 'changed' | 'removed'; kind: string; name: string; before?: unknown; after?: unknown }

const SIGN = { added: '+', changed: '~', removed: '-' } as const;

/** `~ routes/users` followed by the item's YAML, changed lines marked + / -, indented. */
export function renderChange(c: DiffChange, withBody: boolean): string {
  const head = `${SIGN[c.action]} ${c.kind}/${c.name}`;
  if (!withBody) return head;
  const lines = (v: unknown) => (v === undefined ? [] : toYaml(v).split('\n'));
  let body: string[];
  if (c.action === 'added') body = lines(c.after).map((l) => `+ ${l}`);
  else if (c.action === 'removed') body = lines(c.before).map((l) => `- ${l}`);
  else body = lineDiff(lines(c.before), lines(c.after));
  return [head, ...body.map((l) => `    ${l}`)].join('\n');
}
