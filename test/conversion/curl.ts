/** curl as the REST client of the conversion tests (a REST client nobody here wrote). */
import { execFile } from 'node:child_process';

export interface CurlResult { status: number; headers: Record<string, string>; body: string; raw: Buffer }

export function curl(url: string, opts: { method?: string; body?: string | Buffer; headers?: Record<string, string>; maxTime?: number } = {}): Promise<CurlResult> {
  const args = ['-sS', '-i', '--max-time', String(opts.maxTime ?? 20), '-X', opts.method ?? 'GET', '--path-as-is', '-H', 'Expect:'];
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
  if (opts.body !== undefined) args.push('--data-binary', '@-');
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = execFile('curl', args, { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      if (err) return reject(err);
      const out = stdout as Buffer;
      const sep = out.indexOf('\r\n\r\n');
      const head = out.subarray(0, sep).toString('latin1').split('\r\n');
      const status = Number(head[0]!.split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const l of head.slice(1)) { const i = l.indexOf(':'); headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim(); }
      const raw = out.subarray(sep + 4);
      resolve({ status, headers, body: raw.toString('utf8'), raw });
    });
    if (opts.body !== undefined) child.stdin!.end(opts.body); else child.stdin!.end();
  });
}

export function json(r: CurlResult): any {
  return JSON.parse(r.body);
}
