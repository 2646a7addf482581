/** response-transform: the config side (schema); the runtime is index.ts. */
import Type from 'typebox';
import type { PolicySpec } from '../../schema/policy-spec.ts';
import { HeaderOps, type HeaderOpsConfig } from '../request-transform/schema.ts';

export interface Config { enforce?: boolean; headers?: HeaderOpsConfig }

export const schema = Type.Object({
  enforce: Type.Optional(Type.Boolean({ description: 'only true: this policy never refuses a request, so it has no shadow mode (enforce: false is refused)' })),
  headers: Type.Optional(HeaderOps),
}, { additionalProperties: false });

export const spec: PolicySpec<Config> = {
  name: 'response-transform',
  phase: 'request',
  canDeny: false,
  priority: 0,
  schema,
};
