/**
 * Generated nginx configs: the fast upstream and the nginx-proxy reference peer. Both run
 * in the foreground as one process (no master) so a single pid/process group owns them,
 * and every path nginx writes to lives in the bench's temp dir (no root-owned defaults).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** ~100-byte body: small enough that the proxies' per-request overhead dominates. */
export const UPSTREAM_BODY = '{"ok":true,"service":"gatehouse-bench-upstream","padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}\n';

/** Temp-path directives for the modules this nginx build has (a missing module rejects its directive). */
function tempPaths(dir: string): string {
  const v = spawnSync('nginx', ['-V'], { encoding: 'utf8' });
  const flags = `${v.stdout ?? ''}${v.stderr ?? ''}`;
  const lines = [`client_body_temp_path ${join(dir, 'body')};`];
  for (const mod of ['proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    if (!flags.includes(`--without-http_${mod}_module`)) lines.push(`${mod}_temp_path ${join(dir, mod)};`);
  }
  return lines.join('\n    ');
}

function wrap(dir: string, name: string, server: string, extraHttp = ''): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, `${name}.pid`)};
error_log ${join(dir, `${name}-error.log`)} warn;
events { worker_connections 4096; }
http {
    access_log off;
    ${tempPaths(dir)}
    keepalive_requests 100000;
    keepalive_timeout 60s;
    ${extraHttp}
    server {
${server}
    }
}
`;
}

/** Writes the config and returns the nginx argv (without the nginx binary itself). */
export function nginxUpstreamArgs(dir: string, port: number): string[] {
  const sub = join(dir, 'nginx-upstream');
  mkdirSync(sub, { recursive: true });
  const conf = wrap(sub, 'upstream', `        listen 127.0.0.1:${port} reuseport backlog=4096;
        location / {
            default_type application/json;
            return 200 '${UPSTREAM_BODY.trimEnd()}\n';
        }`);
  const file = join(sub, 'nginx.conf');
  writeFileSync(file, conf);
  return ['-p', sub, '-c', file, '-e', join(sub, 'upstream-error.log')];
}

export function nginxProxyArgs(dir: string, port: number, upstreamPort: number): string[] {
  const sub = join(dir, 'nginx-proxy');
  mkdirSync(sub, { recursive: true });
  const conf = wrap(sub, 'proxy', `        listen 127.0.0.1:${port} backlog=4096;
        location / {
            proxy_pass http://bench_up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
        }`, `upstream bench_up {
        server 127.0.0.1:${upstreamPort};
        keepalive 64;
        keepalive_requests 100000;
    }`);
  const file = join(sub, 'nginx.conf');
  writeFileSync(file, conf);
  return ['-p', sub, '-c', file, '-e', join(sub, 'proxy-error.log')];
}
