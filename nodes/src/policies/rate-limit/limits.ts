/** The limits of a rate-limit config, checked and normalised (pure: validation runs it too). */
import { parseDuration } from '../../schema/duration.ts';
import type { Config } from './schema.ts';
import type { AdvertisedLimit } from './headers.ts';

export interface LimitSpec extends AdvertisedLimit { burst: number }

/** Both config forms → one list; names unique (they label headers and metrics). */
export function limitsOf(c: Config, where: string): LimitSpec[] {
  const raw = c.limits ?? (c.limit !== undefined && c.window !== undefined ? [{ name: c.name, limit: c.limit, window: c.window, burst: c.burst }] : []);
  if (!raw.length) throw new Error(`${where}: needs limit and window, or limits`);
  const out = raw.map((l, i) => {
    const windowMs = parseDuration(l.window);
    if (windowMs <= 0) throw new Error(`${where}${c.limits ? `.limits[${i}]` : ''}.window: must be longer than 0`);
    const name = l.name ?? (c.limits ? `${l.limit}-per-${l.window}` : 'default');
    return { name, limit: l.limit, windowMs, burst: l.burst ?? l.limit };
  });
  const names = new Set(out.map((l) => l.name));
  if (names.size !== out.length) throw new Error(`${where}.limits: names must be unique (set "name" on each)`);
  return out;
}
