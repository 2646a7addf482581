/**
 * The one table of policies. Adding a policy: create nodes/src/policies/<name>/index.ts
 * exporting a PolicyDefinition, and add one line here. Nothing else changes.
 */
import type { PolicyDefinition } from '../request/policy.ts';
import { requestTransform } from './request-transform/index.ts';
import { responseTransform } from './response-transform/index.ts';
import { rateLimit } from './rate-limit/index.ts';
import { cors } from './cors/index.ts';
import { trafficSplit } from './traffic-split/index.ts';
import { mirror } from './mirror/index.ts';
import { keyAuth } from './key-auth/index.ts';
import { basicAuth } from './basic-auth/index.ts';
import { jwtAuth } from './jwt-auth/index.ts';
import { acl } from './acl/index.ts';
import { ipRestriction } from './ip-restriction/index.ts';
import { validate } from './validate/index.ts';
import { cache } from './cache/index.ts';
import { grpcTranscode } from './grpc-transcode/index.ts';
import { grpcWeb } from './grpc-web/index.ts';

export const policies: ReadonlyMap<string, PolicyDefinition> = new Map(
  [requestTransform, responseTransform, keyAuth, basicAuth, jwtAuth, acl, ipRestriction, validate, rateLimit, cors, trafficSplit, mirror, cache, grpcTranscode, grpcWeb].map((p) => [p.name, p as PolicyDefinition]),
);
