import test from 'ava';
import { responseTransform } from './index.ts';
import { fakeContext, fakeDeps } from '../../../../test/helpers/fake-request.ts';
import { compileSchema } from '../../schema/validate.ts';
import type { PolicyHandlers, ResponseHead } from '../../request/policy.ts';

function make(cfg: Record<string, unknown>): PolicyHandlers {
  const v = compileSchema(responseTransform.schema);
  if (!v(cfg)) throw new Error(JSON.stringify(v.errors));
  return responseTransform.create(cfg as never, fakeDeps());
}

function apply(h: PolicyHandlers, headers: ResponseHead['headers']): ResponseHead['headers'] {
  const head: ResponseHead = { status: 200, headers, local: false };
  h.response!(fakeContext(), head);
  return head.headers;
}

test('set and remove (the original behaviour)', (t) => {
  t.deepEqual(apply(make({ headers: { set: { 'X-Frame-Options': 'DENY' }, remove: ['Server'] } }), { server: 'nginx', 'x-frame-options': 'SAMEORIGIN' }), { 'x-frame-options': 'DENY' });
});

test('rename keeps the value; add makes another field line', (t) => {
  const h = make({ headers: { rename: { 'x-upstream-id': 'x-backend-id' }, add: { 'set-cookie': 'gw=1', 'x-new': 'v', vary: 'Origin' } } });
  t.deepEqual(apply(h, { 'x-upstream-id': 'abc', 'set-cookie': ['a=1', 'b=2'], vary: 'Accept' }), {
    'x-backend-id': 'abc', 'set-cookie': ['a=1', 'b=2', 'gw=1'], 'x-new': 'v', vary: ['Accept', 'Origin'],
  });
});

test('schema: query and path are request-only', (t) => {
  const v = compileSchema(responseTransform.schema);
  t.false(v({ query: { remove: ['a'] } }) as boolean);
  t.false(v({ path: '/x' }) as boolean);
  t.true(v({ headers: { rename: { a: 'b' } } }) as boolean);
});
