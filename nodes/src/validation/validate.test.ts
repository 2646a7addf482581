import test from 'ava';
import { validateConfig } from './validate.ts';
import { formatPath } from '../schema/validate.ts';

const base = { upstreams: { a: { targets: [{ url: 'http://127.0.0.1:1' }] } } };

test('paths are written as users write them', (t) => {
  t.is(formatPath('', ['routes', 'users', 'match', 'paths', 0]), 'routes.users.match.paths[0]');
  t.is(formatPath('', ['routes', 'odd name']), 'routes["odd name"]');
});

test('every error is reported with its path, not only the first', (t) => {
  const errs = validateConfig({ ...base, routes: { r: { match: { paths: ['x', '/ok', 'y'] }, upstream: 'missing', extra: 1 } } });
  t.deepEqual(errs.map((e) => e.path).sort(), ['routes.r', 'routes.r.match.paths[0]', 'routes.r.match.paths[2]', 'routes.r.upstream']);
});

test('upstreams named inside policies are checked too (traffic-split, mirror)', (t) => {
  const errs = validateConfig({
    ...base,
    routes: { r: { match: { paths: ['/r'] }, upstream: 'a', policies: { 'traffic-split': { upstreams: [{ name: 'a', weight: 1 }, { name: 'ghost', weight: 1 }] }, mirror: { upstream: 'phantom' } } } },
  });
  t.deepEqual(errs.map((e) => `${e.path}: ${e.message}`).sort(), [
    'routes.r.policies.mirror.upstream: unknown upstream "phantom"',
    'routes.r.policies.traffic-split.upstreams[1].name: unknown upstream "ghost"',
  ]);
});

test('a valid document has no errors', (t) => {
  t.deepEqual(validateConfig({ ...base, routes: { r: { match: { paths: ['/r'] }, upstream: 'a' } } }), []);
});

test('a path template may use only params the route defines (rewrite.path)', (t) => {
  const route = (path: string) => ({ ...base, routes: { r: { match: { paths: ['/v1/:id', '/v1/:id/*'] }, upstream: 'a', rewrite: { path } } } });
  t.deepEqual(validateConfig(route('/v2/:id')), []);
  t.deepEqual(validateConfig(route('/v2/:nope')).map((e) => `${e.path}: ${e.message}`), [
    'routes.r.rewrite.path: ":nope" is not defined by the route path /v1/:id',
    'routes.r.rewrite.path: ":nope" is not defined by the route path /v1/:id/*',
  ]);
  t.deepEqual(validateConfig(route('/v2/:id/*')).map((e) => e.message), ['"*" is not defined by the route path /v1/:id']);
});
