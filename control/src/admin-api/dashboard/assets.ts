/**
 * The dashboard's static files, read once at start: plain HTML, one script, one style sheet;
 * no build step. Served without a token (they hold no data) with a strict Content Security
 * Policy: scripts and styles from this origin only, fetches to this origin only.
 */
import { readFileSync } from 'node:fs';

const file = (name: string) => readFileSync(new URL(`./${name}`, import.meta.url));
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const assets = new Map<string, { body: Buffer; headers: Record<string, string> }>();
for (const [path, name, type] of [
  ['/dashboard', 'index.html', 'text/html; charset=utf-8'],
  ['/dashboard/app.js', 'app.js', 'text/javascript; charset=utf-8'],
  ['/dashboard/style.css', 'style.css', 'text/css; charset=utf-8'],
] as const) {
  const body = file(name);
  assets.set(path, {
    body,
    headers: {
      'content-type': type, 'content-length': String(body.length), 'cache-control': 'no-cache',
      'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer',
    },
  });
}
assets.set('/dashboard/', assets.get('/dashboard')!);

export function dashboardAsset(url: string): { body: Buffer; headers: Record<string, string> } | undefined {
  return assets.get(url.split('?')[0]!);
}
