/** Config fields every authentication policy shares; each policy spreads them into its schema. */
import Type from 'typebox';
import { Realm } from './challenge.ts';
import type { ConsumerIdentity } from '../../request/context.ts';
import type { Consumer } from '../../schema/model.ts';
import { DURATION_PATTERN } from '../../schema/duration.ts';

/** A duration field with its own description and documented default. */
export const DurationField = (description: string, def: string) =>
  Type.String({ pattern: DURATION_PATTERN, 'x-message': 'must be a duration like 250ms, 5s, 1m or 2h', description, default: def });

const NAME = { pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$', 'x-message': 'must be a consumer name of letters, digits, . _ - (at most 128)' };

export const authFields = {
  enforce: Type.Optional(Type.Boolean({ description: 'false = shadow mode: evaluate and count, never refuse' })),
  anonymous: Type.Optional(Type.String({ ...NAME, description: 'consumer used when the request presents no credential at all (never when a presented one is wrong)' })),
  realm: Type.Optional(Realm),
};

export const HEADER_NAME = { pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]{1,64}$', 'x-message': 'must be an HTTP header name' };
export const HeaderName = Type.String(HEADER_NAME);

export interface AuthCommonConfig {
  enforce?: boolean;
  anonymous?: string;
  realm?: string;
}

/** The frozen identity of a configured consumer; built at create(), shared by every request. */
export function consumerIdentity(name: string, c: Consumer | undefined, method: string): ConsumerIdentity {
  return Object.freeze({ name, groups: Object.freeze([...(c?.groups ?? [])]), method });
}
