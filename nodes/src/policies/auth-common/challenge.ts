/**
 * 401 replies and their challenges (RFC 9110 §11.6.1: a 401 MUST carry WWW-Authenticate).
 * Replies are built once at create() and frozen: the any-of combiner in pipeline/compile.ts
 * copies them when it merges challenges, it never mutates them, so sharing is safe and the
 * refusal path allocates nothing.
 */
import Type from 'typebox';
import type { LocalReply } from '../../request/policy.ts';

/** A realm is sent inside a quoted-string: no quote, backslash or control (RFC 9110 §5.6.4). */
export const Realm = Type.String({ pattern: '^[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]{1,64}$', 'x-message': 'must be 1-64 printable ASCII characters without " or \\', description: 'realm named in the WWW-Authenticate challenge (default gatehouse)' });

export const DEFAULT_REALM = 'gatehouse';

export const challenge = {
  /** No registered scheme exists for API keys; `ApiKey` is the common spelling (Kong, APISIX). */
  apiKey: (realm: string): string => `ApiKey realm="${realm}"`,
  /** RFC 7617 §2.1: charset="UTF-8" tells clients to encode user-id and password as UTF-8. */
  basic: (realm: string): string => `Basic realm="${realm}", charset="UTF-8"`,
  /** RFC 6750 §3: no error attribute when the request carried no token (§3.1). */
  bearer: (realm: string, error?: string, description?: string): string =>
    `Bearer realm="${realm}"${error ? `, error="${error}"` : ''}${description ? `, error_description="${description}"` : ''}`,
};

export function unauthorized(wwwAuthenticate: string, detail: string): LocalReply {
  return Object.freeze({ code: 'GW_UNAUTHORIZED', detail, headers: Object.freeze({ 'www-authenticate': wwwAuthenticate }) }) as LocalReply;
}
