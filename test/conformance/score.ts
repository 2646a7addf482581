/**
 * Scoring of an http-tests/cache-tests results object, as cache-tests.fyi reads it:
 *  - a test's kind is `required` (the default: a conformance "must"), `optimal` (a missed
 *    chance to use the cache, not a conformance problem) or `check` (information only);
 *  - a result is `true` (passed) or `[name, message]`: name `Assertion` is a failure of the
 *    test itself, `Setup` a failure of a step the test depends on (its own setup, or a
 *    retry), anything else a harness error; a missing result means not run.
 * `fail` lists required tests that failed an assertion (the number the conformance bar is
 * set on); `other` the required tests that did not get that far. A test whose
 * `depends_on` did not pass is listed in `dependent` too: the published tables grey such a
 * result out, so it may explain a failure rather than be one. Tests marked `browser_only`
 * are not run by the suite's CLI and not counted here (a plain count of the results file
 * lists them as "other", not run).
 */

export interface Test { id: string; kind?: 'required' | 'optimal' | 'check'; depends_on?: string[]; browser_only?: boolean }
export interface Suite { id: string; name: string; tests: Test[] }
export type Result = true | [string, string?] | undefined;
export type Results = Record<string, Result>;

export interface Score {
  required: { total: number; pass: number; fail: string[]; other: string[] };
  optimal: { total: number; pass: number; fail: string[] };
  check: { total: number; yes: number };
  /** Tests for browser caches only: the CLI never runs them against a proxy, they are not counted. */
  browserOnly: number;
  /** Required tests (failed or not) with a dependency that did not pass. */
  dependent: string[];
  /** Messages of failed tests, by id. */
  messages: Record<string, string>;
}

export function score(suites: readonly Suite[], results: Results): Score {
  const s: Score = { required: { total: 0, pass: 0, fail: [], other: [] }, optimal: { total: 0, pass: 0, fail: [] }, check: { total: 0, yes: 0 }, browserOnly: 0, dependent: [], messages: {} };
  const passed = (id: string): boolean => results[id] === true;
  for (const suite of suites) {
    for (const t of suite.tests) {
      if (t.browser_only === true) { s.browserOnly++; continue; }
      const r = results[t.id];
      if (r !== undefined && r !== true) s.messages[t.id] = `${r[0]}: ${r[1] ?? ''}`;
      const kind = t.kind ?? 'required';
      if (kind === 'check') { s.check.total++; if (r === true) s.check.yes++; continue; }
      if (kind === 'optimal') {
        s.optimal.total++;
        if (r === true) s.optimal.pass++; else s.optimal.fail.push(t.id);
        continue;
      }
      s.required.total++;
      if (r === true) { s.required.pass++; continue; }
      if (Array.isArray(r) && r[0] === 'Assertion') s.required.fail.push(t.id); else s.required.other.push(t.id);
      if (t.depends_on?.some((d) => !passed(d))) s.dependent.push(t.id);
    }
  }
  return s;
}

export function formatScore(s: Score): string {
  const lines = [
    `required: ${s.required.pass} pass, ${s.required.fail.length} fail, ${s.required.other.length} other (of ${s.required.total})`,
    `optimal:  ${s.optimal.pass}/${s.optimal.total}`,
    `check:    ${s.check.yes}/${s.check.total} yes`,
    `(${s.browserOnly} browser-only tests not run)`,
  ];
  const dep = new Set(s.dependent);
  const list = (title: string, ids: string[]): void => {
    if (ids.length === 0) return;
    lines.push(title);
    for (const id of ids) lines.push(`  ${id}${dep.has(id) ? ' (a dependency failed)' : ''}  ${s.messages[id] ?? 'not run'}`);
  };
  list('required, failed:', s.required.fail);
  list('required, setup/harness/not run:', s.required.other);
  return lines.join('\n');
}
