/** acl: the config side (schema); the runtime is index.ts. */
import Type from 'typebox';
import type { PolicySpec } from '../../schema/policy-spec.ts';

const Group = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$', 'x-message': 'must be a group name' });

export const schema = Type.Object({
  enforce: Type.Optional(Type.Boolean()),
  allow: Type.Optional(Type.Array(Group, { description: 'consumer groups allowed; absent = any consumer' })),
  deny: Type.Optional(Type.Array(Group, { description: 'consumer groups refused; wins over allow' })),
  requireClaims: Type.Optional(Type.Record(
    Type.String({ pattern: '^[A-Za-z0-9_:./-]{1,64}$' }),
    Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    { description: 'claim name (dots walk into objects) -> values that must all be present' },
  )),
}, { additionalProperties: false });

export interface AclConfig { allow?: string[]; deny?: string[]; requireClaims?: Record<string, string[]> }

export const spec: PolicySpec<AclConfig> = {
  name: 'acl',
  phase: 'authorize',
  canDeny: true,
  priority: 950,
  schema,
};
