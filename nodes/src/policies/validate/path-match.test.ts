import test from 'ava';
import { PathMatcher } from './path-match.ts';

function build(): PathMatcher<string> {
  const m = new PathMatcher<string>();
  for (const p of ['/pets', '/pets/mine', '/pets/{id}', '/pets/{id}/toys/{toy}', '/reports/{name}.json', '/reports/{name}', '/']) m.add(p, p);
  return m;
}

test('concrete segments win over templates', (t) => {
  const m = build();
  t.deepEqual(m.match('/pets/mine'), { value: '/pets/mine', params: {} });
  t.deepEqual(m.match('/pets/42'), { value: '/pets/{id}', params: { id: '42' } });
  t.deepEqual(m.match('/pets/42/toys/ball'), { value: '/pets/{id}/toys/{toy}', params: { id: '42', toy: 'ball' } });
  t.deepEqual(m.match('/'), { value: '/', params: {} });
});

test('literal prefix/suffix around a parameter; the longer literal wins', (t) => {
  const m = build();
  t.deepEqual(m.match('/reports/q1.json'), { value: '/reports/{name}.json', params: { name: 'q1' } });
  t.deepEqual(m.match('/reports/q1.csv'), { value: '/reports/{name}', params: { name: 'q1.csv' } });
  t.deepEqual(m.match('/reports/.json'), { value: '/reports/{name}', params: { name: '.json' } });
});

test('no match: extra or missing segments, empty parameter, trailing slash', (t) => {
  const m = build();
  for (const p of ['/pets/1/2', '/dogs', '/pets/', '/pets/1/toys', '/pets/1/toys/', 'pets']) t.is(m.match(p), undefined, p);
});

test('backtracking: a literal branch that fails falls back to the template', (t) => {
  const m = new PathMatcher<string>();
  m.add('/a/b/c', 'lit');
  m.add('/a/{x}/d', 'var');
  t.deepEqual(m.match('/a/b/d'), { value: 'var', params: { x: 'b' } });
  t.deepEqual(m.match('/a/b/c'), { value: 'lit', params: {} });
});

test('refused templates', (t) => {
  const m = build();
  t.throws(() => m.add('/pets/{other}', 'x'), { message: /declared twice/ });
  t.throws(() => m.add('/x/{a}{b}', 'x'), { message: /one \{parameter\} per segment/ });
  t.throws(() => m.add('/x/{}', 'x'), { message: /empty parameter/ });
  t.throws(() => m.add('x', 'x'), { message: /must start with/ });
});

test('a long hostile path is cheap', (t) => {
  const m = build();
  const p = '/pets' + '/1'.repeat(50_000);
  const start = performance.now();
  t.is(m.match(p), undefined);
  t.true(performance.now() - start < 1000);
});
