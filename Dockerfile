# clusterflow worker / MCP server image.
#   docker build -t clusterflow .
#   docker run --rm -e TEMPORAL_ADDRESS=temporal:7233 clusterflow            # worker (default)
#   docker run --rm -i -e TEMPORAL_ADDRESS=... clusterflow serve --no-worker   # MCP on stdio
# The image has no `temporal` CLI, so it needs TEMPORAL_ADDRESS: the embedded dev server is
# for a laptop, not a container. docker-compose.yml runs the whole stack.

# ---- build: full deps (typescript, webpack via @temporalio/worker), compile, bundle, prune ----
FROM node:20.20.2-bookworm-slim AS build
# python3/make/g++ let ssh2's optional cpu-features addon compile (it picks ciphers the CPU
# accelerates); without them npm skips it with a wall of gyp errors.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# tsc + dist/workflow-bundle.js, so a worker starts without webpacking the workflows.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf dist/test dist/bench \
 && find dist -name '*.map' -delete

# ---- runtime: node, openssh-client (ssh-keygen, ssh for debugging a node), the app ----
FROM node:20.20.2-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    CLUSTERFLOW_HOME=/var/lib/clusterflow \
    HOME=/home/node
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
# The app is root-owned and read-only to the runtime user; only the state dir is writable.
# uid 1000 (the image's `node` user) is the usual owner of a host ~/.ssh, so mounted keys
# with mode 0600 stay readable.
RUN mkdir -p "$CLUSTERFLOW_HOME" /home/node/.ssh \
 && chown node:node "$CLUSTERFLOW_HOME" /home/node/.ssh \
 && chmod 700 "$CLUSTERFLOW_HOME" /home/node/.ssh
VOLUME ["/var/lib/clusterflow"]
USER node
# The launcher gives serve and the worker their process settings (malloc, V8's young generation).
ENTRYPOINT ["/app/bin/cluster-router"]
CMD ["worker"]
