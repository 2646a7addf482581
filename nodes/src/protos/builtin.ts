/**
 * Proto files every proto set can import without shipping them: google/api (HTTP rules,
 * HttpBody), google/rpc (Status and the common error details, to decode grpc-status-details-bin),
 * and google/protobuf/descriptor.proto (what annotations.proto extends). The well-known types
 * (any, duration, empty, field_mask, struct, timestamp, wrappers) come from protobufjs's own
 * bundled definitions (protobufjs `common`), so they are not repeated here.
 *
 * The google/api and google/rpc texts below are written from the public definitions'
 * field numbers and names (the wire contract), trimmed to what the gateway reads.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const HTTP = `syntax = "proto3";
package google.api;
option go_package = "google.golang.org/genproto/googleapis/api/annotations;annotations";

message Http {
  repeated HttpRule rules = 1;
  bool fully_decode_reserved_expansion = 2;
}

message HttpRule {
  string selector = 1;
  oneof pattern {
    string get = 2;
    string put = 3;
    string post = 4;
    string delete = 5;
    string patch = 6;
    CustomHttpPattern custom = 8;
  }
  string body = 7;
  string response_body = 12;
  repeated HttpRule additional_bindings = 11;
}

message CustomHttpPattern {
  string kind = 1;
  string path = 2;
}
`;

const ANNOTATIONS = `syntax = "proto3";
package google.api;
import "google/api/http.proto";
import "google/protobuf/descriptor.proto";

extend google.protobuf.MethodOptions {
  HttpRule http = 72295728;
}
`;

const HTTPBODY = `syntax = "proto3";
package google.api;
import "google/protobuf/any.proto";

message HttpBody {
  string content_type = 1;
  bytes data = 2;
  repeated google.protobuf.Any extensions = 3;
}
`;

const STATUS = `syntax = "proto3";
package google.rpc;
import "google/protobuf/any.proto";

message Status {
  int32 code = 1;
  string message = 2;
  repeated google.protobuf.Any details = 3;
}
`;

const ERROR_DETAILS = `syntax = "proto3";
package google.rpc;
import "google/protobuf/duration.proto";

message ErrorInfo {
  string reason = 1;
  string domain = 2;
  map<string, string> metadata = 3;
}
message RetryInfo {
  google.protobuf.Duration retry_delay = 1;
}
message DebugInfo {
  repeated string stack_entries = 1;
  string detail = 2;
}
message QuotaFailure {
  message Violation {
    string subject = 1;
    string description = 2;
  }
  repeated Violation violations = 1;
}
message PreconditionFailure {
  message Violation {
    string type = 1;
    string subject = 2;
    string description = 3;
  }
  repeated Violation violations = 1;
}
message BadRequest {
  message FieldViolation {
    string field = 1;
    string description = 2;
  }
  repeated FieldViolation field_violations = 1;
}
message RequestInfo {
  string request_id = 1;
  string serving_data = 2;
}
message ResourceInfo {
  string resource_type = 1;
  string resource_name = 2;
  string owner = 3;
  string description = 4;
}
message LocalizedMessage {
  string locale = 1;
  string message = 2;
}
`;

let descriptor: string | undefined;
/** descriptor.proto as protobufjs ships it (read once, on first use). */
function descriptorText(): string {
  if (descriptor === undefined) {
    const req = createRequire(import.meta.url);
    descriptor = readFileSync(req.resolve('protobufjs/google/protobuf/descriptor.proto'), 'utf8');
  }
  return descriptor;
}

const TEXTS: Record<string, () => string> = {
  'google/api/http.proto': () => HTTP,
  'google/api/annotations.proto': () => ANNOTATIONS,
  'google/api/httpbody.proto': () => HTTPBODY,
  'google/rpc/status.proto': () => STATUS,
  'google/rpc/error_details.proto': () => ERROR_DETAILS,
  'google/protobuf/descriptor.proto': descriptorText,
};

/** The source of a built-in file, or undefined. A proto set's own file of the same name wins. */
export function builtinProto(name: string): string | undefined {
  return TEXTS[name]?.();
}

/** Files the gateway always loads into a set (to decode error details). */
export const ALWAYS_LOADED = ['google/rpc/status.proto', 'google/rpc/error_details.proto'] as const;
