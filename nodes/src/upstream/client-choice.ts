/**
 * Which HTTP/1.1 client carries proxied requests (decision 0005): Gatehouse's own on Node's
 * native parser (`own`, the default) or undici's Pool behind the same interface (`undici`,
 * h1/undici.ts). Chosen once, when a gateway starts; a config reload does not switch it.
 */
import { checkNativeParser } from './h1/parser.ts';

export type UpstreamClient = 'own' | 'undici';

/** The environment variable that overrides `node.upstreamClient`. */
export const UPSTREAM_CLIENT_ENV = 'GATEHOUSE_UPSTREAM_CLIENT';

/**
 * The environment variable wins over the config (an operator switches without editing the
 * file); neither set means `own`. An unknown value, or `own` on a Node whose native parser
 * this client cannot use, fails the start with a message naming the problem.
 */
export function chooseUpstreamClient(configured: UpstreamClient | undefined, env: string | undefined): UpstreamClient {
  let c: UpstreamClient = configured ?? 'own';
  if (env !== undefined && env !== '') {
    if (env !== 'own' && env !== 'undici') throw new Error(`${UPSTREAM_CLIENT_ENV} must be "own" or "undici", not ${JSON.stringify(env)}`);
    c = env;
  }
  if (c === 'own') checkNativeParser();
  return c;
}
