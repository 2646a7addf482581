/**
 * One Prometheus text for a node of several worker processes: the primary scrapes every
 * worker's /metrics and merges the texts here, so a scraper sees the node, as it does with
 * one process. Samples with the same name and labels are combined by their family's rule:
 * counters and histograms are summed (requests of the node = requests of its workers), most
 * gauges too (memory, in-flight requests, cache bytes); gauges that describe one state seen
 * by every worker take the max or min instead (see RULES).
 *
 * The text is prom-client's exposition format without timestamps: `# HELP`, `# TYPE`, then
 * `name{labels} value` lines. The value is what follows the last space, so label values may
 * hold spaces. A family's HELP and TYPE come from the first worker that has it.
 */

export type MergeRule = 'sum' | 'max' | 'min';

/** Gauges whose sum means nothing. Matched against the family name. */
const RULES: ReadonlyArray<readonly [RegExp, MergeRule]> = [
  [/^gatehouse_config_revision$/, 'max'],
  [/_start_time_seconds$/, 'min'],
  [/_max_fds$/, 'max'],
  [/_version_info$/, 'max'],
  [/eventloop_lag/, 'max'],
  [/^gatehouse_upstream_breaker_state$/, 'max'],
  // A target counts as healthy only when every worker's checks say so.
  [/^gatehouse_upstream_target_healthy$/, 'min'],
];

export function ruleFor(family: string, type: string): MergeRule {
  if (type !== 'gauge') return 'sum';
  for (const [re, rule] of RULES) if (re.test(family)) return rule;
  return 'sum';
}

interface Family {
  help: string | undefined;
  type: string | undefined;
  rule: MergeRule;
  /** Sample key (name and labels) → merged value, in first-seen order. */
  samples: Map<string, number>;
}

function parseValue(s: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return Number(s);
}

function formatValue(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function combine(rule: MergeRule, a: number, b: number): number {
  if (rule === 'max') return Math.max(a, b);
  if (rule === 'min') return Math.min(a, b);
  return a + b;
}

/** The family a sample belongs to: its name less a histogram/summary suffix when that family is known. */
function familyOf(name: string, families: ReadonlyMap<string, Family>, current: string | undefined): string {
  if (current !== undefined && (name === current || name.startsWith(current + '_'))) return current;
  if (families.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count', '_total', '_created']) {
    if (name.endsWith(suffix) && families.has(name.slice(0, -suffix.length))) return name.slice(0, -suffix.length);
  }
  return name;
}

export function mergeMetrics(texts: readonly string[]): string {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) families.set(name, f = { help: undefined, type: undefined, rule: 'sum', samples: new Map() });
    return f;
  };
  for (const text of texts) {
    let current: string | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
        const rest = line.slice(7);
        const sp = rest.indexOf(' ');
        const name = sp < 0 ? rest : rest.slice(0, sp);
        const f = family(name);
        current = name;
        if (line[2] === 'H') f.help ??= sp < 0 ? '' : rest.slice(sp + 1);
        else if (f.type === undefined) { f.type = sp < 0 ? 'untyped' : rest.slice(sp + 1); f.rule = ruleFor(name, f.type); }
        continue;
      }
      if (line.startsWith('#')) continue;
      const sp = line.lastIndexOf(' ');
      if (sp <= 0) continue;
      const key = line.slice(0, sp);
      const value = parseValue(line.slice(sp + 1));
      const brace = key.indexOf('{');
      const name = brace < 0 ? key : key.slice(0, brace);
      const f = family(familyOf(name, families, current));
      const prev = f.samples.get(key);
      f.samples.set(key, prev === undefined ? value : combine(f.rule, prev, value));
    }
  }
  const out: string[] = [];
  for (const [name, f] of families) {
    if (f.help !== undefined) out.push(`# HELP ${name} ${f.help}`);
    if (f.type !== undefined) out.push(`# TYPE ${name} ${f.type}`);
    for (const [key, v] of f.samples) out.push(`${key} ${formatValue(v)}`);
  }
  return out.join('\n') + '\n';
}
