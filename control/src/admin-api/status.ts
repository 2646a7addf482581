/**
 * `GET /v1/status`: etcd's revision, the config revision (the newest change to routes,
 * upstreams or consumers) and every node listed under `<prefix>/nodes/` (contract: membership
 * keys under a lease) with the config revision it serves. A node serving less than the
 * config revision has not applied the latest change yet: `behind`.
 */
import type { HandlerContext, Reply } from './context.ts';

export async function status(ctx: HandlerContext): Promise<Reply> {
  const [s, n] = await Promise.all([ctx.store.read(), ctx.store.nodes()]);
  const nodes = n.nodes.map((node) => ({ ...node, behind: node.revision < s.configRevision }));
  return {
    status: 200,
    body: {
      revision: Math.max(s.revision, n.revision),
      configRevision: s.configRevision,
      prefix: ctx.store.prefix,
      nodes,
      behind: nodes.filter((x) => x.behind).length,
    },
  };
}
