/** grpc-web: the config side (schema and its checks); the runtime is index.ts. */
import Type from 'typebox';
import type { PolicySpec } from '../../schema/policy-spec.ts';
import { Duration } from '../../schema/model.ts';

export const schema = Type.Object({
  origins: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'origins allowed by the preflight answer and Access-Control-Allow-Origin; default *' })),
  maxMessageSize: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^[0-9]+(b|kb|mb|gb)?$', 'x-message': 'must be a size like 1048576, 64kb or 1mb' })], { description: 'largest message either way (default 4mb)' })),
  timeout: Type.Optional(Type.String({ ...Duration, description: "deadline when the client sends no grpc-timeout; default the upstream's timeouts.response" })),
}, { additionalProperties: false });

export interface Config { origins?: string[]; maxMessageSize?: number | string; timeout?: string }

export const spec: PolicySpec<Config> = {
  name: 'grpc-web',
  phase: 'upstream',
  canDeny: false,
  priority: -1000,
  schema,
};
