/** Run a real client (openssl, curl, nghttp, python) without blocking the in-process gateway. */
import { execFile } from 'node:child_process';

export interface Ran { code: number; stdout: string; stderr: string }

export function run(cmd: string, args: string[], opts: { input?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: opts.timeout ?? 40_000, maxBuffer: 16 << 20, encoding: 'utf8', ...(opts.env ? { env: opts.env } : {}) }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(opts.input ?? '');
  });
}

/** The subject line openssl s_client prints for the server's certificate ('' when the handshake failed). */
export async function servedSubject(port: number, servername: string | undefined, extra: string[] = []): Promise<{ subject: string; ok: boolean; out: string }> {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, ...(servername ? ['-servername', servername] : ['-noservername']), ...extra];
  const r = await run('openssl', args);
  const m = /^subject=(.*)$/m.exec(r.stdout);
  return { subject: m ? m[1]!.replace(/\s+/g, '') : '', ok: r.code === 0 && !!m, out: r.stdout + r.stderr };
}

/** curl: body and, on the last line, "<http_version> <status>". */
export async function curl(args: string[]): Promise<{ version: string; status: number; body: string; code: number; stderr: string }> {
  const r = await run('curl', ['-s', '-S', '-w', '\n%{http_version} %{http_code}', ...args]);
  const i = r.stdout.lastIndexOf('\n');
  const [version, status] = r.stdout.slice(i + 1).split(' ');
  return { version: version ?? '', status: Number(status), body: r.stdout.slice(0, i), code: r.code, stderr: r.stderr };
}
