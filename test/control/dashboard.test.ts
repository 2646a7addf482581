/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core, against the
 * admin API in front of two real nodes. Signed in with a viewer token, the page must show
 * both nodes serving, then a config change (new route, new revision, the history row), then
 * a SIGKILLed node as stale. Screenshots go to test-artifacts/dashboard/ (gitignored).
 */
import test from 'ava';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import pino from 'pino';
import { startCluster, type TestCluster } from '../helpers/cluster.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { http } from '../helpers/http.ts';
import { waitFor } from '../helpers/wait.ts';
import { parseTokensFile, tokenDigest } from '../../control/src/admin-api/auth.ts';
import { createAdminServer, listen, type ListeningAdmin } from '../../control/src/admin-api/server.ts';
import { ConfigStore } from '../../control/src/store/config-store.ts';
import { createStoreClient } from '../../control/src/store/client.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/dashboard/', import.meta.url));
const VIEWER = 'dashboard-viewer-token-0123456789';
const OPS = 'dashboard-ops-token-0123456789';

let cluster: TestCluster;
let upstream: TestUpstream;
let admin: ListeningAdmin;
let closeClient: () => void;
let browser: Browser;

const asOps = (method: string, path: string, body?: unknown) => http(admin.url + path, {
  method, headers: { authorization: `Bearer ${OPS}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
});
const upstreams = () => ({ users: { targets: [{ url: `http://127.0.0.1:${upstream.port}` }], healthCheck: { path: '/healthz', interval: '1s' } } });

test.before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [cluster, upstream] = await Promise.all([startCluster({ nodes: 2, cluster: { leaseTtl: '10s' }, startTimeout: 45_000 }), startUpstream()]);
  const client = createStoreClient([cluster.etcd.endpoint]);
  closeClient = () => client.close();
  const tokens = parseTokensFile(`dash viewer ${tokenDigest(VIEWER)}\nops admin ${tokenDigest(OPS)}\n`);
  admin = await listen(createAdminServer({ store: new ConfigStore(client, cluster.prefix), tokens, logger: pino({ level: 'silent' }) }), '127.0.0.1', 0);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 20_000,
  });
});

test.after.always(async () => {
  await browser?.close();
  await admin?.close();
  closeClient?.();
  await upstream?.close();
  await cluster?.stop();
});

const row = (page: Page, table: string, key: string) => page.locator(`#${table} tbody tr[data-key="${key}"]`);

test('the dashboard shows nodes, routes, upstreams and history, then a config change, then a killed node as stale', async (t) => {
  const first = await asOps('POST', '/v1/apply', { upstreams: upstreams(), routes: { 'users-api': { match: { paths: ['/users', '/users/*'] }, upstream: 'users' } } });
  t.is(first.status, 200, first.body);
  const rev1: number = first.json().revision;
  await cluster.converged(rev1);

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(15_000);
  await page.goto(`${admin.url}/dashboard`);
  // A wrong token is refused; the viewer token is enough.
  await page.fill('#token', 'not-the-right-token-0123456789');
  await page.click('#login button');
  await page.locator('#login-error', { hasText: 'refused' }).waitFor();
  await page.fill('#token', VIEWER);
  await page.click('#login button');
  for (const n of cluster.nodes) await row(page, 'nodes', n.id).locator('td', { hasText: /^serving$/ }).waitFor();
  await row(page, 'routes', 'users-api').waitFor();
  await row(page, 'upstreams', `users http://127.0.0.1:${upstream.port}`).locator('td', { hasText: '2/2 nodes' }).waitFor();
  await row(page, 'history', String(rev1)).locator('td', { hasText: 'ops' }).waitFor();
  // Traffic shows as req/s on the route.
  const load = setInterval(() => { void http(`${cluster.nodes[0]!.url}/users/1`).catch(() => undefined); }, 20);
  try {
    const rps = row(page, 'routes', 'users-api').locator('td').nth(1);
    await waitFor(async () => Number(await rps.textContent()) > 0, { timeout: 15_000, interval: 200, message: 'users-api req/s above 0' });
    // The same poll's latency: a p99 in ms from the requests since the previous poll.
    t.regex(await row(page, 'routes', 'users-api').locator('td').nth(3).textContent() ?? '', /^\d+(\.\d+)? ms$/);
  } finally {
    clearInterval(load);
  }
  await page.screenshot({ path: `${ARTIFACTS}1-serving.png`, fullPage: true });

  // A config change: a new route, a new revision, a new history row.
  const second = await asOps('POST', '/v1/apply', { routes: { 'orders-api': { match: { paths: ['/orders'] }, upstream: 'users' } } });
  t.is(second.status, 200, second.body);
  const rev2: number = second.json().revision;
  await row(page, 'routes', 'orders-api').waitFor();
  await row(page, 'history', String(rev2)).locator('td', { hasText: '+routes/orders-api' }).waitFor();
  await page.locator('#summary', { hasText: `config revision ${rev2}` }).waitFor();
  for (const n of cluster.nodes) await row(page, 'nodes', n.id).locator('td', { hasText: String(rev2) }).first().waitFor();
  await page.screenshot({ path: `${ARTIFACTS}2-config-change.png`, fullPage: true });

  // A node dies (SIGKILL: its lease lives on): the page shows it stale.
  const victim = cluster.nodes[1]!;
  await victim.stop('SIGKILL');
  await row(page, 'nodes', victim.id).locator('td', { hasText: /^stale$/ }).waitFor();
  await page.locator('#summary', { hasText: '1/2 nodes live' }).waitFor();
  t.is(await row(page, 'nodes', cluster.nodes[0]!.id).locator('td').nth(4).textContent(), 'serving');
  await page.screenshot({ path: `${ARTIFACTS}3-node-killed.png`, fullPage: true });
  t.pass();
});
