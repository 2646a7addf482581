import Type from 'typebox';
import { authFields, HeaderName } from '../auth-common/schema.ts';

export const schema = Type.Object({
  ...authFields,
  header: Type.Optional(Type.Union([HeaderName, Type.Null()], { description: 'request header carrying the key (default x-api-key); null = header not accepted' })),
  query: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._~-]{1,64}$', 'x-message': 'must be a query parameter name of letters, digits, . _ ~ -', description: 'query parameter carrying the key (default: none; keys in URLs end up in logs)' })),
  hideCredentials: Type.Optional(Type.Boolean({ description: 'remove the key from what is forwarded upstream (default true)' })),
}, { additionalProperties: false });

export interface KeyAuthConfig {
  enforce?: boolean;
  anonymous?: string;
  realm?: string;
  header?: string | null;
  query?: string;
  hideCredentials?: boolean;
}
