/**
 * The RateLimit-Policy and RateLimit header fields of draft-ietf-httpapi-ratelimit-headers-09
 * (March 2025), Structured Field form: each is a List of Items whose value is the policy
 * name as an sf-string, with Integer parameters.
 *   RateLimit-Policy: "default";q=100;w=60     q = quota units, w = window in seconds
 *   RateLimit: "default";r=42;t=17             r = remaining units, t = seconds until reset
 * The draft's `w` is whole seconds; a window that is not (250ms, 1.5s) is advertised as the
 * same rate over the next whole number of seconds (5 per 250ms → q=20;w=1). The optional
 * `pk` (partition key) is not sent: it would echo the client's key (an IP, a header) back.
 */

export interface AdvertisedLimit { name: string; limit: number; windowMs: number }

/** sf-string (RFC 9651 §3.3.3): printable ASCII with \ and " escaped; names are validated to a safe set. */
function sfString(s: string): string {
  return '"' + s.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

export function policyItem(l: AdvertisedLimit): string {
  let q = l.limit;
  let w = l.windowMs / 1000;
  if (!Number.isInteger(w)) {
    w = Math.max(1, Math.ceil(w));
    q = Math.max(1, Math.floor((l.limit * w * 1000) / l.windowMs));
  }
  return `${sfString(l.name)};q=${q};w=${w}`;
}

export function policyHeader(limits: readonly AdvertisedLimit[]): string {
  return limits.map(policyItem).join(', ');
}

/** The constant head of a RateLimit item: `"name";r=`. */
export function rateItemPrefix(name: string): string {
  return `${sfString(name)};r=`;
}

/** delta-seconds for `t` and Retry-After: whole seconds, rounded up so a client never retries early. */
export function seconds(ms: number): number {
  return ms <= 0 ? 0 : Math.ceil(ms / 1000 - 1e-9);
}
