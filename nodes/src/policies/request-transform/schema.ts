/**
 * Schemas shared by request-transform and response-transform. Header names are checked as
 * tokens (RFC 9110 §5.1) and values can never carry CR, LF or NUL (no header injection).
 */
import Type from 'typebox';

export const HeaderName = Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", 'x-message': 'must be an HTTP header name' });
export const HeaderValue = Type.String({ pattern: '^[^\\r\\n\\x00]*$', 'x-message': 'must not contain CR, LF or NUL' });
const HeaderMap = (description: string) => Type.Record(Type.String(), HeaderValue, { propertyNames: HeaderName, description });

export const HeaderOps = Type.Object({
  remove: Type.Optional(Type.Array(HeaderName, { description: 'headers to drop' })),
  rename: Type.Optional(Type.Record(Type.String(), HeaderName, { propertyNames: HeaderName, description: 'old name -> new name (value kept)' })),
  set: Type.Optional(HeaderMap('name -> value, replacing any value')),
  add: Type.Optional(HeaderMap('name -> value, added to any value already there')),
}, { additionalProperties: false, description: 'applied in this order: remove, rename, set, add' });

const QueryName = Type.String({ minLength: 1, maxLength: 256 });
export const QueryOps = Type.Object({
  remove: Type.Optional(Type.Array(QueryName, { description: 'parameters to drop (every occurrence)' })),
  set: Type.Optional(Type.Record(Type.String(), Type.String(), { propertyNames: QueryName, description: 'name -> value, replacing every occurrence' })),
}, { additionalProperties: false, description: 'applied in this order: remove, set' });

export interface HeaderOpsConfig { remove?: string[]; rename?: Record<string, string>; set?: Record<string, string>; add?: Record<string, string> }
export interface QueryOpsConfig { remove?: string[]; set?: Record<string, string> }
