/**
 * The config validation as a package export (`@gatehouse/node/schema`): what the control
 * plane uses to check a document or one item exactly as a node will, without loading the
 * data plane (test/architecture/validation-imports.test.ts checks what this pulls in).
 */
export { validateConfig, validateItem } from './validate.ts';
export { formatErrors, formatPath, type ConfigError } from '../schema/validate.ts';
export { GatewayConfig, Route, Upstream, Consumer } from '../schema/model.ts';
export { parseDuration } from '../schema/duration.ts';
/** gatewayctl apply turns a proto set given by `path` into `files`, so every node gets the same sources. */
export { readProtoPath } from '../protos/load.ts';
