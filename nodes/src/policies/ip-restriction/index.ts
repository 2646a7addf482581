/**
 * ip-restriction: allow/deny by client address, and deny by User-Agent or Referer
 * (docs/policies/ip-restriction.md). 403 GW_FORBIDDEN, with the same detail whichever rule
 * matched, so a probing client learns nothing about the rules.
 *
 * The address is ctx.clientIp: the socket peer, or X-Forwarded-For read right to left
 * through node.trustedProxies only (http/client-ip.ts; CWE-348). IPv4-mapped IPv6 is the
 * IPv4 address on both sides (CidrSet, RFC 4291 §2.5.5.2), so `::ffff:10.0.0.1` cannot
 * slip past a `10.0.0.0/8` deny.
 *
 * Fail closed: '' means the address could not be established (a malformed entry in a
 * trusted proxy's X-Forwarded-For, or the socket already gone). Such a request is denied
 * whenever the policy has any address rule, deny-only included: with an unknown address
 * we cannot show the client is outside the deny list, and a forwarding header an attacker
 * can garble must not be a way around it.
 *
 * A request is refused when any deny rule matches or an allow list does not contain its
 * address; deny wins (an address in both lists is refused).
 */
import type { PolicyDefinition, PolicyHandlers, LocalReply } from '../../request/policy.ts';
import { CidrSet } from '../../http/cidr.ts';
import { compileGlobs, type Matcher } from './glob.ts';
import { spec, type Config } from './spec.ts';



const FORBIDDEN: LocalReply = Object.freeze({ code: 'GW_FORBIDDEN' as const, detail: 'Access denied by an IP or client restriction' });

function cidrs(list: string[] | undefined, where: string): CidrSet | undefined {
  if (!list || list.length === 0) return undefined;
  try {
    return new CidrSet(list);
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
  }
}

function globs(list: string[] | undefined, where: string): Matcher | undefined {
  try {
    return compileGlobs(list);
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
  }
}

export const ipRestriction: PolicyDefinition<Config> = {
  ...spec,
  create(config, deps) {
    const where = `routes.${deps.routeName}.policies.ip-restriction`;
    const allow = cidrs(config.allow, `${where}.allow`);
    const deny = cidrs(config.deny, `${where}.deny`);
    const ua = globs(config.denyUserAgents, `${where}.denyUserAgents`);
    const referer = globs(config.denyReferers, `${where}.denyReferers`);
    const checksAddress = allow !== undefined || deny !== undefined;
    return Object.freeze<PolicyHandlers>({
      request(ctx) {
        if (checksAddress) {
          const ip = ctx.clientIp;
          if (ip === '') return FORBIDDEN; // fail closed (file comment)
          if (deny !== undefined && deny.contains(ip)) return FORBIDDEN;
          if (allow !== undefined && !allow.contains(ip)) return FORBIDDEN;
        }
        if (ua !== undefined && ua((ctx.req.headers['user-agent'] ?? '').toLowerCase())) return FORBIDDEN;
        if (referer !== undefined && referer((ctx.req.headers.referer ?? '').toLowerCase())) return FORBIDDEN;
        return undefined;
      },
    });
  },
};
