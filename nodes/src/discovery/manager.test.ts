// Discovery manager: feeds per discovery setting, targets re-applied to the runtimes a reload
// creates, carry-over until a feed answers, feeds stopped when no upstream uses them.
import test from 'ava';
import pino from 'pino';
import { Discovery, type Feed } from './manager.ts';
import { UpstreamRuntime, type TargetSpec } from '../upstream/upstream.ts';
import { PoolRegistry } from '../upstream/target.ts';
import type { Upstream } from '../schema/model.ts';
import { validateConfig } from '../validation/validate.ts';

const logger = pino({ level: 'silent' });

interface ManualFeed extends Feed { set(t: TargetSpec[]): void; stopped: boolean; key: string }

function setup(t: import('ava').ExecutionContext) {
  const pools = new PoolRegistry();
  t.teardown(() => pools.closeAll());
  let ups = new Map<string, UpstreamRuntime>();
  const feeds: ManualFeed[] = [];
  let changes = 0;
  const d = new Discovery({
    logger,
    upstreams: () => ups,
    onChange: () => { changes++; },
    createFeed: (cfg, onChange) => {
      let targets: TargetSpec[] | undefined;
      const f: ManualFeed = {
        key: JSON.stringify(cfg), stopped: false,
        get targets() { return targets; },
        set(l) { targets = l; onChange(); },
        start: () => undefined,
        firstAttempt: () => Promise.resolve(),
        stop() { f.stopped = true; },
        describe: () => ({}),
      };
      feeds.push(f);
      return f;
    },
  });
  t.teardown(() => d.stop());
  /** Simulate a config apply: new snapshot upstreams (reusing runtimes whose config is unchanged, as compile.ts does). */
  const apply = (cfg: Record<string, Upstream>) => {
    const next = new Map<string, UpstreamRuntime>();
    for (const [name, c] of Object.entries(cfg)) {
      const prev = ups.get(name);
      next.set(name, prev && JSON.stringify(prev.config) === JSON.stringify(c) ? prev : new UpstreamRuntime(name, c, pools));
    }
    ups = next;
    d.sync();
  };
  const urls = (name: string) => ups.get(name)!.targets.map((x) => x.url).join();
  return { d, feeds, apply, urls, changes: () => changes, ups: () => ups };
}

const A = 'http://10.0.0.1:80';
const B = 'http://10.0.0.2:80';

test('a feed answer becomes the targets; a reload with a new runtime gets them again at once', (t) => {
  const s = setup(t);
  s.apply({ users: { discovery: { service: 'users' } } });
  t.is(s.feeds.length, 1);
  t.is(s.urls('users'), '', 'no answer yet');
  s.feeds[0]!.set([{ url: A }, { url: B, weight: 3 }]);
  t.is(s.urls('users'), `${A},${B}`);
  t.is(s.ups().get('users')!.targets[1]!.weight, 3);
  t.is(s.changes(), 1);

  const before = s.ups().get('users');
  s.apply({ users: { discovery: { service: 'users' }, timeouts: { response: '5s' } } });
  t.not(s.ups().get('users'), before, 'a new runtime');
  t.is(s.urls('users'), `${A},${B}`, 're-applied in the same tick');
  t.is(s.feeds.length, 1, 'the same feed goes on');

  const reused = s.ups().get('users');
  s.apply({ users: { discovery: { service: 'users' }, timeouts: { response: '5s' } }, other: { targets: [{ url: 'http://10.9.9.9:1' }] } });
  t.is(s.ups().get('users'), reused, 'unchanged config: runtime reused, targets untouched');
  t.is(s.urls('users'), `${A},${B}`);
  s.feeds[0]!.set([{ url: B }]);
  t.is(s.urls('users'), B);
  t.is(s.urls('other'), 'http://10.9.9.9:1', 'static upstreams are left alone');
});

test('before a feed answers, a new runtime keeps what the old one served (e.g. snapshot targets)', (t) => {
  const s = setup(t);
  // From the snapshot file: discovered targets saved into `targets`.
  s.apply({ users: { discovery: { service: 'users' }, targets: [{ url: A }] } });
  t.is(s.urls('users'), A);
  // etcd's version of the upstream (no targets) arrives before the registry answered.
  s.apply({ users: { discovery: { service: 'users' } } });
  t.is(s.urls('users'), A, 'carried over');
  s.feeds[0]!.set([{ url: B }]);
  t.is(s.urls('users'), B, 'the registry answer replaces it');
});

test('feeds are shared by upstreams with the same setting and stopped when unused', (t) => {
  const s = setup(t);
  s.apply({ a: { discovery: { service: 'users' } }, b: { discovery: { service: 'users' } }, c: { discovery: { dns: 'x.internal', port: 80 } } });
  t.is(s.feeds.length, 2);
  s.feeds[0]!.set([{ url: A }]);
  t.is(s.urls('a'), A);
  t.is(s.urls('b'), A);
  // b switches service: a new feed; until it answers b keeps its static (none) targets, not users'.
  s.apply({ a: { discovery: { service: 'users' } }, b: { discovery: { service: 'orders' } } });
  t.is(s.feeds.length, 3);
  t.true(s.feeds[1]!.stopped, 'the dns feed nobody uses is stopped');
  t.false(s.feeds[0]!.stopped);
  t.is(s.urls('b'), '');
  s.feeds[2]!.set([{ url: B }]);
  t.is(s.urls('b'), B);
  t.is(s.urls('a'), A);
});

test('a feed answer after stop() changes nothing', async (t) => {
  const s = setup(t);
  s.apply({ users: { discovery: { service: 'users' } } });
  await s.d.stop();
  t.true(s.feeds[0]!.stopped);
  s.feeds[0]!.set([{ url: A }]);
  t.is(s.urls('users'), '');
});

test('standalone, registry discovery is a config error; dns discovery is fine', (t) => {
  const errs = validateConfig({ upstreams: { u: { discovery: { service: 'users' } }, d: { discovery: { dns: 'users.internal', port: 8080 } } } });
  t.deepEqual(errs.map((e) => e.path), ['upstreams.u.discovery.service']);
  t.regex(errs[0]!.message, /needs cluster mode/);
  t.deepEqual(validateConfig({ node: { cluster: { etcd: { endpoints: ['http://127.0.0.1:2379'] } } }, upstreams: { u: { discovery: { service: 'users' } } } }), []);
});
