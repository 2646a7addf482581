/**
 * The one table of policies. Adding a policy: create nodes/src/policies/<name>/index.ts
 * exporting a PolicyDefinition, and add one line here. Nothing else changes.
 */
import type { PolicyDefinition } from '../pipeline/types.ts';
import { requestTransform } from './request-transform/index.ts';
import { responseTransform } from './response-transform/index.ts';

export const policies: ReadonlyMap<string, PolicyDefinition> = new Map(
  [requestTransform, responseTransform].map((p) => [p.name, p as PolicyDefinition]),
);
