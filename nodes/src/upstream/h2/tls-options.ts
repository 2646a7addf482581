/** Upstream `tls` config → pool options, read at compile time (never per request). */
import fs from 'node:fs';
import path from 'node:path';
import type { UpstreamTls } from '../../schema/protocols.ts';

export function upstreamTls(t: UpstreamTls | undefined, baseDir: string | undefined, where: string): { ca?: Buffer; servername?: string } {
  if (!t) return {};
  const out: { ca?: Buffer; servername?: string } = {};
  if (t.ca !== undefined) {
    const file = path.resolve(baseDir ?? process.cwd(), t.ca);
    try { out.ca = fs.readFileSync(file); } catch (err) { throw new Error(`${where}.ca: cannot read ${t.ca}`, { cause: err }); }
  }
  if (t.serverName !== undefined) out.servername = t.serverName;
  return out;
}
