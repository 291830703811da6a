# The standalone collector (docs/collector.md, "Run it in a container"). Three stages: build the
# package and pack it exactly as npm publishes it; install its production dependencies with
# `npm ci --omit=dev` (plus pg, an optional peer, for DATABASE_URL=postgres://…); a slim runtime
# that runs as the unprivileged `node` user with its SQLite data (if used) on the /data volume.
#   docker build -t koa-consent-telemetry-collector .
#   docker compose up        (collector + PostgreSQL: compose.yaml)

FROM node:20-slim AS build
WORKDIR /src
# sqlite3 compiles its binding when no prebuilt one can be fetched.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json README.md LICENSE ./
COPY scripts ./scripts
COPY src ./src
COPY migrations ./migrations
COPY docs ./docs
RUN npm run build && mkdir /pack && npm pack --pack-destination /pack && tar -xzf /pack/*.tgz -C /pack

FROM node:20-slim AS deps
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY --from=build /pack/package/package.json ./package.json
COPY package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm install --no-save --omit=dev --no-audit --no-fund "pg@$(node -p "require('./package.json').devDependencies.pg")" \
 && npm cache clean --force

FROM node:20-slim
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    DATABASE_URL=/data/collector.sqlite3 \
    LOG_LEVEL=info
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /pack/package/package.json ./package.json
COPY --from=build /pack/package/dist ./dist
COPY --from=build /pack/package/docs ./docs
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# No curl in slim images: node's own fetch asks /health (200 while the database answers).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/cli.js", "collector"]
