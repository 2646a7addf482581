import Type, { type Static } from 'typebox';
import { DURATION_PATTERN, SIZE_PATTERN } from '../../schema/duration.ts';

const closed = { additionalProperties: false } as const;
const HeaderName = Type.String({ pattern: '^[A-Za-z0-9-]{1,128}$', 'x-message': 'must be a header name' });

export const schema = Type.Object({
  proto: Type.String({ minLength: 1, description: 'name of a proto set in the top-level protos map' }),
  services: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'full service names (pkg.Service) to expose; default every service of the set' })),
  print: Type.Optional(Type.Object({
    protoFieldNames: Type.Optional(Type.Boolean({ default: false, description: 'JSON field names as in the .proto (display_name) instead of lowerCamel (displayName)' })),
    defaults: Type.Optional(Type.Boolean({ default: false, description: 'print fields that hold their default value (0, "", false, [])' })),
  }, closed)),
  query: Type.Optional(Type.Object({
    ignore: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'query parameters left alone (for example an API key another policy reads)' })),
    ignoreUnknown: Type.Optional(Type.Boolean({ default: false, description: 'ignore parameters that name no field instead of answering 400' })),
  }, closed)),
  metadata: Type.Optional(Type.Object({
    request: Type.Optional(Type.Array(HeaderName, { description: 'request headers forwarded as gRPC metadata (allow list); x-request-id and traceparent always are' })),
    response: Type.Optional(Type.Array(HeaderName, { description: 'response metadata returned as HTTP headers (allow list); default every non-reserved text entry' })),
  }, closed)),
  maxMessageSize: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: SIZE_PATTERN, 'x-message': 'must be a size like 1048576, 64kb or 1mb' })], { description: 'largest request body / message either way (default 4mb); over it: 413' })),
  timeout: Type.Optional(Type.String({ pattern: DURATION_PATTERN, 'x-message': 'must be a duration like 250ms, 5s, 1m or 2h', description: "deadline of each call; default the upstream's timeouts.response" })),
}, closed);

export type TranscodeConfig = Static<typeof schema>;
