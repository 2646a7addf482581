/**
 * Expect: 100-continue (RFC 9110 §10.1.1) decided by the gateway: Node's automatic
 * "100 Continue" is off (the server has a checkContinue listener), so the client's body
 * waits until every request-phase policy has passed. A request refused by a policy gets its
 * final answer instead, and the body is never sent.
 */
import type { RequestContext } from '../request/context.ts';

export function continueIfAsked(ctx: RequestContext): void {
  const e = ctx.req.headers.expect;
  if (e === undefined || e.toLowerCase() !== '100-continue') return;
  const res = ctx.res as { writeContinue?: () => void; headersSent: boolean };
  if (!res.headersSent && typeof res.writeContinue === 'function') res.writeContinue();
}
