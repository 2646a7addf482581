/**
 * response-transform: change what the client receives, on upstream and gateway responses
 * alike. Headers: `set` (replace) and `remove`, compiled to lower case at load time.
 */
import Type from 'typebox';
import type { PolicyDefinition, PolicyHandlers } from '../../pipeline/types.ts';
import { schema as requestSchema } from '../request-transform/index.ts';

interface Config { headers?: { set?: Record<string, string>; remove?: string[] } }

export const responseTransform: PolicyDefinition<Config> = {
  name: 'response-transform',
  phase: 'request',
  priority: 0,
  schema: Type.Object(requestSchema.properties, { additionalProperties: false }),
  create(config) {
    const set = Object.entries(config.headers?.set ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const);
    const remove = (config.headers?.remove ?? []).map((h) => h.toLowerCase());
    return Object.freeze<PolicyHandlers>({
      response(_ctx, head) {
        for (const name of remove) delete head.headers[name];
        for (const [k, v] of set) head.headers[k] = v;
      },
    });
  },
};
