/** Config schema of the `validate` policy (docs/policies/validate.md). */
import Type from 'typebox';
import { Size } from '../../schema/model.ts';

const JsonSchema = (what: string) => Type.Object({}, { additionalProperties: true, description: `JSON Schema (2020-12) for ${what}` });

export const schema = Type.Object({
  enforce: Type.Optional(Type.Boolean()),
  query: Type.Optional(JsonSchema('the query parameters, as an object of name -> value; repeated names are arrays')),
  params: Type.Optional(JsonSchema('the path parameters the route captured (:name, *)')),
  headers: Type.Optional(JsonSchema('the request headers (names matched case-insensitively)')),
  body: Type.Optional(Type.Union([Type.Boolean(), JsonSchema('the JSON request body')])),
  contentTypes: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9!#$&^_.+-]+/([A-Za-z0-9!#$&^_.+-]+|\\*(\\+[A-Za-z0-9.-]+)?)$', 'x-message': 'must be a media type like application/json or application/*+json' }), { minItems: 1, description: 'accepted body media types (default [application/json] when body is set)' })),
  bodyRequired: Type.Optional(Type.Boolean({ description: 'reject requests without a body (default: true for POST, PUT, PATCH when body is set)' })),
  maxBodySize: Type.Optional(Size),
  maxDepth: Type.Optional(Type.Integer({ minimum: 1, maximum: 256, description: 'maximum JSON nesting depth (default 32)' })),
  openapi: Type.Optional(Type.String({ minLength: 1, description: 'OpenAPI 3.0/3.1 file (YAML or JSON), relative to the config file' })),
  basePath: Type.Optional(Type.String({ pattern: '^/', 'x-message': 'must start with /', description: 'prefix of the request path before the OpenAPI paths' })),
  unmatched: Type.Optional(Type.Union([Type.Literal('reject'), Type.Literal('pass')], { description: 'request matching no OpenAPI operation: reject (400, default) or pass' })),
}, { additionalProperties: false });

export interface ValidateConfig {
  enforce?: boolean;
  query?: Record<string, unknown>;
  params?: Record<string, unknown>;
  headers?: Record<string, unknown>;
  body?: boolean | Record<string, unknown>;
  contentTypes?: string[];
  bodyRequired?: boolean;
  maxBodySize?: number | string;
  maxDepth?: number;
  openapi?: string;
  basePath?: string;
  unmatched?: 'reject' | 'pass';
}
