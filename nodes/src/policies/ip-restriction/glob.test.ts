import test from 'ava';
import { compileGlob, compileGlobs } from './glob.ts';

test('no star: case-insensitive substring', (t) => {
  const m = compileGlob('SqlMap');
  t.true(m('mozilla/5.0 sqlmap/1.7'));
  t.false(m('mozilla/5.0'));
});

test('with stars: a glob over the whole value', (t) => {
  const curl = compileGlob('curl/*');
  t.true(curl('curl/8.4.0'));
  t.true(curl('curl/'));
  t.false(curl('xcurl/8'));
  const bot = compileGlob('*bot*');
  t.true(bot('googlebot/2.1'));
  t.true(bot('bot'));
  t.false(bot('robo'));
  const mid = compileGlob('a*b*c');
  t.true(mid('abc'));
  t.true(mid('a-b-b-c'));
  t.false(mid('acb'));
  t.false(mid('ab'));
  // Middle part must not overlap the suffix.
  t.false(compileGlob('*ab*b')('ab'));
  t.true(compileGlob('*ab*b')('abb'));
  t.true(compileGlob('*')(''));
  t.true(compileGlob('**')('anything'));
});

test('literal characters common in User-Agents are allowed', (t) => {
  t.true(compileGlob('(compatible; googlebot/2.1; +http://www.google.com/bot.html)')('mozilla/5.0 (compatible; googlebot/2.1; +http://www.google.com/bot.html)'));
});

test('regex syntax is refused at load', (t) => {
  for (const p of ['.*bot', '^curl', 'curl$', 'a|b', '[bB]ot', 'a\\d', 'x{2}', '(?i)bot', 'bot.+']) {
    t.throws(() => compileGlob(p), { message: /regular expression/ }, p);
  }
  t.throws(() => compileGlob(''), { message: /empty pattern/ });
});

test('pathological input finishes fast (no backtracking)', (t) => {
  const m = compileGlobs(['*a*a*a*a*a*a*a*a*a*a*b', '*' + 'ab*'.repeat(20) + 'z'])!;
  const input = 'a'.repeat(16 * 1024);
  const start = performance.now();
  for (let i = 0; i < 100; i++) t.false(m(input));
  // Backtracking would take hours; the bound leaves room for a busy shared machine.
  t.true(performance.now() - start < 3000, `${performance.now() - start} ms`);
});
