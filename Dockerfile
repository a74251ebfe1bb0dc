# syntax=docker/dockerfile:1
#
# One image for every KS Cloud process; docker-compose.yml picks the entry point per service:
#   api      node --import tsx api/main.ts        (the default CMD)
#   worker   node --import tsx worker/main.ts
#   gateway  node --import tsx gateway/main.ts
#   migrate  npx tsx scripts/migrate.ts
# The app runs TypeScript through tsx (a runtime dependency): there is no build step. The long-running
# processes load it with `node --import tsx`, not the `tsx` command: that command runs the app as its
# child and SIGKILLs it when the app has not acknowledged a SIGTERM within 60 ms (a busy event loop),
# which would cut the worker's drain short.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- dependencies -------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
# npm 11 is the version that reads package.json's `allowScripts` (the install-script policy);
# node 20 ships npm 10, which ignores it.
ARG NPM_VERSION=11.19.1
RUN npm install --global "npm@${NPM_VERSION}" && npm --version
WORKDIR /app
COPY package.json package-lock.json ./
# The patches of dependencies that npm ci's postinstall applies (patch-package; see patches/).
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# CA roots for native TLS clients (the Temporal core bridge when TEMPORAL_TLS_* / Temporal Cloud is used).
RUN apt-get update \
  && apt-get install --yes --no-install-recommends ca-certificates \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    PATH=/app/node_modules/.bin:$PATH
WORKDIR /app
# Code and dependencies stay owned by root: the unprivileged user can read them, not change them.
COPY --from=deps /app/node_modules ./node_modules
COPY . .
# `node` (uid 1000) comes with the official image; HOME=/home/node is writable for npx/npm logs.
USER node
EXPOSE 3000 40000 40001
CMD ["node", "--import", "tsx", "api/main.ts"]
