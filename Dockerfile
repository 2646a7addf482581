# syntax=docker/dockerfile:1
# Gatehouse node (and admin API) image: Node 24, production dependencies only, non-root.
#   docker build -t gatehouse .
#   docker run --rm -p 8080:8080 -p 9080:9080 -v $PWD/infra/gateway.yaml:/etc/gatehouse/gateway.yaml:ro gatehouse
# The TypeScript sources run as they are (Node 24 strips types); there is nothing to compile.

# --- build: install the production dependency tree (no dev tools, no test deps) -------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
# Manifests first: the npm layer is rebuilt only when dependencies change.
COPY package.json package-lock.json ./
COPY nodes/package.json nodes/package.json
COPY control/package.json control/package.json
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force
COPY nodes/bin nodes/bin
COPY nodes/src nodes/src
COPY control/bin control/bin
COPY control/src control/src
COPY examples/echo-upstream.ts examples/echo-upstream.ts
# Link the workspaces' CLIs (gatehouse, gatewayctl) into node_modules/.bin now that their
# files exist; drop the tests; check that both CLIs load with production dependencies only.
RUN npm rebuild --ignore-scripts @gatehouse/node @gatehouse/control \
 && find nodes/src control/src -name '*.test.ts' -delete \
 && node_modules/.bin/gatehouse --help >/dev/null \
 && node_modules/.bin/gatewayctl --help >/dev/null

# --- runtime ------------------------------------------------------------------------------------
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PATH=/app/node_modules/.bin:$PATH \
    NODE_COMPILE_CACHE=/tmp/node-compile-cache
WORKDIR /app
COPY --from=build /app /app
# The snapshot of the last good cluster config (node.cluster.snapshot) lives here.
RUN mkdir -p /etc/gatehouse /var/lib/gatehouse && chown node:node /var/lib/gatehouse
# The image's unprivileged user (uid 1000); ports above 1024 need no capability.
USER node
EXPOSE 8080 9080
# The status port's liveness; orchestrators use their own probes (/readyz for traffic).
HEALTHCHECK --interval=10s --timeout=2s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Tini-like signal handling is not needed: gatehouse handles SIGTERM itself (graceful drain).
CMD ["gatehouse", "start", "--config", "/etc/gatehouse/gateway.yaml"]
