import Type from 'typebox';
import { authFields, DurationField } from '../auth-common/schema.ts';

export const schema = Type.Object({
  ...authFields,
  hideCredentials: Type.Optional(Type.Boolean({ description: 'remove the Authorization header from the forwarded request (default true)' })),
  cacheTtl: Type.Optional(DurationField('how long a successful verification is remembered (0s = scrypt on every request)', '60s')),
  cacheSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000, default: 10000, description: 'most remembered verifications' })),
}, { additionalProperties: false });

export interface BasicAuthConfig {
  enforce?: boolean;
  anonymous?: string;
  realm?: string;
  hideCredentials?: boolean;
  cacheTtl?: string;
  cacheSize?: number;
}
