/** response-transform: the config side (schema); the runtime is index.ts. */
import Type from 'typebox';
import type { PolicySpec } from '../../schema/policy-spec.ts';
import { HeaderOps, type HeaderOpsConfig } from '../request-transform/schema.ts';

export interface Config { enforce?: boolean; headers?: HeaderOpsConfig }

export const schema = Type.Object({
  enforce: Type.Optional(Type.Boolean({ description: 'false = the transform is off' })),
  headers: Type.Optional(HeaderOps),
}, { additionalProperties: false });

export const spec: PolicySpec<Config> = {
  name: 'response-transform',
  phase: 'request',
  priority: 0,
  schema,
};
