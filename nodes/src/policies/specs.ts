/**
 * The config side of every policy (each folder's spec.ts): what validation reads. Pure
 * modules only, so the admin API can validate without loading the data plane; registry.ts
 * is the runtime table and a test checks the two list the same policies.
 */
import type { PolicySpec } from '../schema/policy-spec.ts';
import { spec as requestTransform } from './request-transform/spec.ts';
import { spec as responseTransform } from './response-transform/spec.ts';
import { spec as rateLimit } from './rate-limit/spec.ts';
import { spec as cors } from './cors/spec.ts';
import { spec as trafficSplit } from './traffic-split/spec.ts';
import { spec as mirror } from './mirror/spec.ts';
import { spec as keyAuth } from './key-auth/spec.ts';
import { spec as basicAuth } from './basic-auth/spec.ts';
import { spec as jwtAuth } from './jwt-auth/spec.ts';
import { spec as acl } from './acl/spec.ts';
import { spec as ipRestriction } from './ip-restriction/spec.ts';
import { spec as validate } from './validate/spec.ts';
import { spec as cache } from './cache/spec.ts';
import { spec as grpcTranscode } from './grpc-transcode/spec.ts';
import { spec as grpcWeb } from './grpc-web/spec.ts';

export const policySpecs: ReadonlyMap<string, PolicySpec> = new Map(
  [requestTransform, responseTransform, keyAuth, basicAuth, jwtAuth, acl, ipRestriction, validate, rateLimit, cors, trafficSplit, mirror, cache, grpcTranscode, grpcWeb].map((p) => [p.name, p as PolicySpec]),
);
