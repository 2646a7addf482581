/**
 * The fast upstream every proxy forwards to: nginx returning a fixed 200 (so the upstream
 * costs as little of the shared load core as possible), or a Node server if nginx is absent.
 */
import { join } from 'node:path';
import { nginxUpstreamArgs, UPSTREAM_BODY } from './nginx.ts';
import { freePort, hasCommand, startProcess, stopProcess, waitForHttp200, waitForPort, type Managed } from './proc.ts';

export interface Upstream { kind: 'nginx' | 'node'; port: number; url: string; proc: Managed }

export async function startUpstream(dir: string, cpu: string | undefined): Promise<Upstream> {
  const port = await freePort();
  const kind = hasCommand('nginx') ? 'nginx' : 'node';
  const proc = kind === 'nginx'
    ? startProcess('upstream(nginx)', cpu, 'nginx', nginxUpstreamArgs(dir, port), join(dir, 'upstream.log'))
    : startProcess('upstream(node)', cpu, process.execPath, [join(import.meta.dirname, '..', 'peers', 'node-upstream.ts'), String(port)], join(dir, 'upstream.log'));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForPort(port, 10_000, proc);
    await waitForHttp200(`${url}/`, 5_000, proc);
    const body = await (await fetch(`${url}/probe`)).text();
    if (body !== UPSTREAM_BODY) throw new Error(`upstream answered an unexpected body: ${JSON.stringify(body)}`);
  } catch (e) {
    await stopProcess(proc);
    throw e;
  }
  return { kind, port, url, proc };
}
