/**
 * Differential test: random, heavily overlapping tables checked against a deliberately naive
 * matcher (split everything, try every route, sort by a tuple). It shares no code with the
 * router, so it catches trie, bucketing and pruning mistakes the hand-written cases miss.
 */
import test, { type ExecutionContext } from 'ava';
import type { IncomingHttpHeaders } from 'node:http';
import { Router } from './index.ts';
import type { RouteSpec } from './index.ts';

/** mulberry32: a tiny seeded PRNG so failures reproduce. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function naivePath(pattern: string, path: string): Record<string, string> | null {
  const pat = pattern.slice(1).split('/');
  const req = path.slice(1).split('/');
  const rest = pat[pat.length - 1] === '*';
  if (rest) pat.pop();
  if (rest ? req.length <= pat.length : req.length !== pat.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pat.length; i++) {
    const p = pat[i] as string;
    const s = req[i] as string;
    if (p.startsWith(':')) {
      if (s === '') return null;
      params[p.slice(1)] = s;
    } else if (p !== s) return null;
  }
  if (rest) params['*'] = req.slice(pat.length).join('/');
  return params;
}

/** [kind, suffix length]: 2 exact, 1 wildcard, 0 none; null when the host does not match. */
function naiveHost(pattern: string | undefined, host: string): [number, number] | null {
  if (pattern === undefined) return [0, 0];
  if (!pattern.startsWith('*.')) return pattern === host ? [2, 0] : null;
  const suffix = pattern.slice(1);
  return host.endsWith(suffix) && host.length > suffix.length ? [1, suffix.length - 1] : null;
}

type Key = Array<number | string>;
function less(a: Key, b: Key): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] as number) < (b[i] as number);
  return false;
}

function naiveMatch(specs: RouteSpec[], host: string, path: string, method: string, headers: IncomingHttpHeaders) {
  let best: { key: Key; name: string; params: Record<string, string> } | undefined;
  specs.forEach((s, index) => {
    if (s.methods && !s.methods.includes(method)) return;
    if (Object.entries(s.headers ?? {}).some(([k, v]) => headers[k] !== v)) return;
    (s.hosts ?? [undefined]).forEach((h, hostIndex) => {
      const hm = naiveHost(h, host);
      if (!hm) return;
      s.paths.forEach((p, pathIndex) => {
        const params = naivePath(p, path);
        if (!params) return;
        const segs = p.split('/').length - 1;
        const literals = p.split('/').slice(1).filter((x) => x !== '*' && !x.startsWith(':')).length;
        const kind = p.endsWith('/*') ? 0 : p.includes(':') ? 1 : 2;
        const key: Key = [-s.priority, -hm[0], -hm[1], -kind, kind === 0 ? -(segs - 1) : 0, -literals,
          s.methods ? -1 : 0, -Object.keys(s.headers ?? {}).length, s.name, index, hostIndex, pathIndex];
        if (!best || less(key, best.key)) best = { key, name: s.name, params };
      });
    });
  });
  return best;
}

function randomTable(rand: () => number, count: number): RouteSpec[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const specs: RouteSpec[] = [];
  for (let i = 0; i < count; i++) {
    const paths: string[] = [];
    for (let p = 1 + Math.floor(rand() * 2); p > 0; p--) {
      const segs = Array.from({ length: 1 + Math.floor(rand() * 3) }, (_, k) => (rand() < 0.3 ? `:p${k}` : pick(['a', 'b', 'c'])));
      const tail = pick(['', '', '/*', '/']);
      paths.push('/' + segs.join('/') + tail);
    }
    const spec: RouteSpec = { name: `n${Math.floor(rand() * 1e6)}`, priority: pick([-1, 0, 0, 0, 0, 1]), paths };
    if (rand() < 0.5) spec.hosts = [pick(['x.test', 'y.test', '*.test', '*.x.test'])];
    if (rand() < 0.3) spec.methods = [pick(['GET', 'POST'])];
    if (rand() < 0.3) spec.headers = rand() < 0.5 ? { v: pick(['1', '2']) } : { v: '1', w: '1' };
    specs.push(spec);
  }
  // Wildcards, the only way to reach '/': keeps "no match" rare so most requests compare winners.
  specs.push({ name: 'root', priority: 0, paths: ['/', '/*'], methods: ['GET'] });
  return specs;
}

/** `count` random requests: the router and the naive matcher pick the same route and params. */
function agree(t: ExecutionContext, rand: () => number, specs: RouteSpec[], router: Router<string>, count: number, at: string, valueOf = (name: string): string => name): void {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  for (let q = 0; q < count; q++) {
    const segs = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => pick(['a', 'b', 'c', 'd']));
    const path = '/' + segs.join('/') + (rand() < 0.2 ? '/' : '');
    const host = pick(['x.test', 'y.test', 'a.x.test', 'b.y.test', 'other.org']);
    const method = pick(['GET', 'POST', 'PUT']);
    const headers: IncomingHttpHeaders = rand() < 0.5 ? {} : { v: pick(['1', '2']), w: pick(['1', '2']) };
    const want = naiveMatch(specs, host, path, method, headers);
    const got = router.match(host, path, method, headers);
    const label = `${at}: ${method} ${host}${path} ${JSON.stringify(headers)}`;
    t.is(got?.value, want && valueOf(want.name), label);
    if (want) t.deepEqual(got?.params ?? {}, want.params, label);
  }
}

test('random overlapping tables agree with a naive matcher', (t) => {
  const rand = rng(20240611);
  for (let round = 0; round < 20; round++) {
    const specs = randomTable(rand, round < 10 ? 15 : 300);
    const router = new Router(specs.map((spec) => ({ spec, value: spec.name })));
    agree(t, rand, specs, router, 500, `round ${round}`);
  }
});

test('a table updated edit by edit from the previous one matches like a table built from scratch', (t) => {
  const rand = rng(20261205);
  // Unique names: a config map cannot hold two routes of one name.
  const unique = (specs: RouteSpec[]): RouteSpec[] => [...new Map(specs.map((s) => [s.name, s])).values()];
  let specs = unique(randomTable(rand, 300));
  // A route can keep its spec object and get a new value (recompiled policies): the table must serve the new one.
  const values = new Map<string, string>();
  const valueOf = (name: string): string => values.get(name) ?? name;
  let router = new Router(specs.map((spec) => ({ spec, value: valueOf(spec.name) })));
  for (let edit = 0; edit < 15; edit++) {
    // Drop a few, replace a few (same name, new spec object), add a few, in new places, give a few new values.
    const added = unique(randomTable(rand, 5)).filter((s) => s.name !== 'root');
    specs = specs.filter(() => rand() > 0.03).map((s) => (rand() < 0.03 ? { ...s, priority: s.priority + 1 } : s));
    specs = unique([...added.slice(0, 2), ...specs, ...added.slice(2)]);
    for (const spec of specs) if (rand() < 0.03) values.set(spec.name, `${spec.name}@${edit}`);
    const previous = router;
    router = new Router(specs.map((spec) => ({ spec, value: valueOf(spec.name) })), previous);
    agree(t, rand, specs, router, 300, `edit ${edit}`, valueOf);
  }
});

test('a table patched in place edit by edit matches like a table built from scratch', (t) => {
  const rand = rng(20261206);
  const unique = (specs: RouteSpec[]): RouteSpec[] => [...new Map(specs.map((s) => [s.name, s])).values()];
  let specs = unique(randomTable(rand, 300));
  const values = new Map<string, string>();
  const valueOf = (name: string): string => values.get(name) ?? name;
  let router = new Router(specs.map((spec) => ({ spec, value: valueOf(spec.name) })));
  let patched = 0;
  let rebuilt = 0;
  for (let edit = 0; edit < 60; edit++) {
    const before = new Set(specs);
    const added = unique(randomTable(rand, 1 + Math.floor(rand() * 4))).filter((s) => s.name !== 'root');
    specs = specs.filter((s) => s.name === 'root' || rand() > 0.01).map((s) => (rand() < 0.01 ? { ...s, priority: s.priority + 1 } : s));
    specs = unique([...specs, ...added]);
    // A new value for a kept spec: the patch retires the spec and adds it again.
    const revalued = new Set<RouteSpec>();
    for (const spec of specs) if (before.has(spec) && rand() < 0.01) { values.set(spec.name, `${spec.name}@${edit}`); revalued.add(spec); }
    const now = new Set(specs);
    const removed = new Set([...before].filter((s) => !now.has(s) || revalued.has(s)));
    const fresh = specs.filter((s) => !before.has(s) || revalued.has(s)).map((spec) => ({ spec, value: valueOf(spec.name) }));
    const generation = router.generation;
    if (router.patch(removed, fresh)) {
      patched++;
      t.is(router.generation, generation + 1);
    } else {
      rebuilt++;
      router = new Router(specs.map((spec) => ({ spec, value: valueOf(spec.name) })), router);
    }
    t.is(router.size, specs.length, `edit ${edit}: size`);
    agree(t, rand, specs, router, 300, `edit ${edit}`, valueOf);
  }
  t.true(patched > 40, `${patched} edits patched in place, ${rebuilt} rebuilt`);
});

test('patching splits joined literals (/api/v1/users/list) where a new path leaves them', (t) => {
  const spec = (name: string, paths: string[], extra: Partial<RouteSpec> = {}): RouteSpec => ({ name, priority: 0, paths, ...extra });
  // Long runs where nothing branches: compact() joins each into one trie node (fully literal
  // paths live in a map instead, so these end in a param or '/*').
  let specs = [spec('deep', ['/api/v1/users/list/*']), spec('other', ['/static/img/logo/:f']), spec('root', ['/*'])];
  const router = new Router(specs.map((s) => ({ spec: s, value: s.name })));
  const steps: RouteSpec[][] = [
    [spec('mid', ['/api/v1/*'])], // ends inside the joined literal
    [spec('fork', ['/api/v1/orders/all/*'])], // leaves it after two segments
    [spec('param', ['/api/v1/users/:id'])], // a param where a literal ran
    [spec('exact', ['/api/v1/users/list']), spec('img', ['/static/:kind/logo/:f'])],
    [spec('early', ['/api/x/*'], { methods: ['POST'] }), spec('top', ['/api/:v'])],
  ];
  const rand = rng(7);
  const words = ['api', 'v1', 'users', 'list', 'orders', 'all', 'static', 'img', 'logo', 'x', '42'];
  for (const [i, add] of steps.entries()) {
    t.true(router.patch(new Set(), add.map((s) => ({ spec: s, value: s.name }))), `step ${i} patched in place`);
    specs = [...specs, ...add];
    for (let q = 0; q < 400; q++) {
      const path = '/' + Array.from({ length: 1 + Math.floor(rand() * 5) }, (_, k) => (rand() < 0.6 ? ['api', 'v1', 'users', 'list', 'x'][k]! : words[Math.floor(rand() * words.length)]!)).join('/');
      const method = rand() < 0.5 ? 'GET' : 'POST';
      const want = naiveMatch(specs, 'h.test', path, method, {});
      const got = router.match('h.test', path, method, {});
      t.is(got?.value, want?.name, `step ${i}: ${method} ${path}`);
      if (want) t.deepEqual(got?.params ?? {}, want.params, `step ${i}: ${method} ${path}`);
    }
  }
});
