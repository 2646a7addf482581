/** Small HTTP clients for tests: a parsed request through undici, and a raw socket exchange. */
import net from 'node:net';
import { request as undiciRequest, Agent } from 'undici';

export interface Res { status: number; headers: Record<string, string | string[] | undefined>; body: string; json: () => any }

const agent = new Agent({ keepAliveTimeout: 1000, connections: 64 });

export async function http(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Res> {
  const r = await undiciRequest(url, { method: (opts.method ?? 'GET') as 'GET', headers: opts.headers, body: opts.body, dispatcher: agent });
  const body = await r.body.text();
  return { status: r.statusCode, headers: r.headers as Res['headers'], body, json: () => JSON.parse(body) };
}

/**
 * Send raw bytes, collect everything until the server closes or `idleMs` passes without data
 * after the first byte. The first byte is awaited up to `firstMs`: a busy machine may take
 * longer than `idleMs` to answer at all, and "no answer yet" is not "no answer".
 */
export function raw(port: number, data: string | Buffer, idleMs = 500, firstMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer = setTimeout(done, Math.max(idleMs, firstMs));
    function done(): void { clearTimeout(timer); s.destroy(); resolve(Buffer.concat(chunks).toString('latin1')); }
    s.on('data', (c: Buffer) => { chunks.push(c); clearTimeout(timer); timer = setTimeout(done, idleMs); });
    s.on('close', done);
    s.on('error', done);
    s.write(data);
  });
}

/** Status codes of every response in a raw exchange (pipelined responses included). */
export function statuses(rawText: string): number[] {
  return [...rawText.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
}
