import test from 'ava';
import { compileTemplate, templateErrors, templateParams } from './template.ts';

test('fills params, keeps one param in one segment', (t) => {
  const f = compileTemplate('/v2/items/:id/x/*');
  t.is(f({ id: 'a/b', '*': 'rest/of/it' }), '/v2/items/a%2Fb/x/rest/of/it');
  t.is(f(undefined), '/v2/items//x/');
  t.deepEqual(templateParams('/a/:id-:v2/*'), [':id', ':v2', '*']);
});

test('params a route path does not define are errors, per path', (t) => {
  t.deepEqual(templateErrors('/v2/:id/*', ['/u/:id/*', '/u/:id']), ['"*" is not defined by the route path /u/:id']);
  t.deepEqual(templateErrors('/v2/:nope', ['/u/:id']), ['":nope" is not defined by the route path /u/:id']);
  t.deepEqual(templateErrors('/v2/static', ['/u/:id']), []);
});
