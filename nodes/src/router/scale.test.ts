import test from 'ava';
import { Router } from './index.ts';
import type { RouteSpec } from './index.ts';

const COUNT = 10_000;

/** Four shapes in rotation, spread over 37 exact hosts, 11 wildcard suffixes and no host. */
function generated(): Array<{ spec: RouteSpec; value: number }> {
  const entries: Array<{ spec: RouteSpec; value: number }> = [];
  for (let i = 0; i < COUNT; i++) {
    const name = `r${String(i).padStart(5, '0')}`;
    let spec: RouteSpec;
    switch (i % 4) {
      case 0: spec = { name, priority: 0, hosts: [`h${i % 37}.example.com`], paths: [`/svc${i}/items`] }; break;
      case 1: spec = { name, priority: 0, paths: [`/svc${i}/items/:id/parts/:part`] }; break;
      case 2: spec = { name, priority: 0, hosts: [`*.z${i % 11}.example.org`], paths: [`/svc${i}/*`] }; break;
      default: spec = { name, priority: 0, methods: ['POST'], paths: [`/svc${i}/items/:id/*`], headers: { 'x-tenant': `t${i}` } };
    }
    entries.push({ spec, value: i });
  }
  // One catch-all every request can fall back to, so "wrong route" shows up as -1, not undefined.
  entries.push({ spec: { name: 'fallback', priority: 0, paths: ['/*'] }, value: -1 });
  return entries;
}

test('10,000 generated routes each match their own requests, with their params', (t) => {
  const r = new Router(generated());
  t.is(r.size, COUNT + 1);
  let checked = 0;
  for (let i = 0; i < COUNT; i++) {
    const hit = (host: string, path: string, method = 'GET', headers = {}) => r.match(host, path, method, headers);
    switch (i % 4) {
      case 0:
        t.is(hit(`h${i % 37}.example.com`, `/svc${i}/items`)?.value, i);
        t.is(hit(`h${(i + 1) % 37}.example.com`, `/svc${i}/items`)?.value, -1, 'other host');
        t.is(hit(`h${i % 37}.example.com`, `/svc${i}/items/`)?.value, -1, 'trailing slash');
        break;
      case 1: {
        const m = hit('any.host', `/svc${i}/items/7/parts/wheel`);
        t.is(m?.value, i);
        t.deepEqual(m?.params, { id: '7', part: 'wheel' });
        t.is(hit('any.host', `/svc${i}/items/7/parts`)?.value, -1);
        break;
      }
      case 2: {
        const m = hit(`a.b.z${i % 11}.example.org`, `/svc${i}/deep/er`);
        t.is(m?.value, i);
        t.deepEqual(m?.params, { '*': 'deep/er' });
        t.is(hit(`z${i % 11}.example.org`, `/svc${i}/x`)?.value, -1, 'bare suffix');
        break;
      }
      default: {
        const m = hit('x', `/svc${i}/items/9/a/b`, 'POST', { 'x-tenant': `t${i}` });
        t.is(m?.value, i);
        t.deepEqual(m?.params, { id: '9', '*': 'a/b' });
        t.is(hit('x', `/svc${i}/items/9/a/b`, 'GET', { 'x-tenant': `t${i}` })?.value, -1, 'method');
        t.is(hit('x', `/svc${i}/items/9/a/b`, 'POST', { 'x-tenant': `t${i + 1}` })?.value, -1, 'header');
      }
    }
    checked++;
  }
  t.is(checked, COUNT);
  t.is(r.match('h1.example.com', '/nothing/here', 'GET', {})?.value, -1);
});

test('building a 10,000-route table takes well under a second of CPU', (t) => {
  // A guard against accidental quadratic work, not a benchmark (0.1-0.4 s on the dev VM).
  // CPU time rather than wall time, so a busy CI machine does not fail it.
  const entries = generated();
  const start = process.cpuUsage();
  new Router(entries);
  const used = process.cpuUsage(start);
  const ms = (used.user + used.system) / 1000;
  t.true(ms < 1500, `${ms.toFixed(0)} ms`);
});
