# Ringleader image: one image for every role (relay, node, inspector); the compose service picks
# the role with its command. Two stages so the run image holds production dependencies only.

# --- build: dev dependencies (esbuild, typescript) and the transpiled dist/ -------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Lockfiles first so the dependency layer is reused until they change. --ignore-scripts: the
# `prepare` script builds dist/, which cannot work before the sources are copied in below.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# Build, then drop the dev dependencies in place so the run stage copies production ones only.
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# --- run: node, production node_modules, dist/ ---------------------------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only to the process: the app never writes to its own folder.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The relay's state file lives in /data (RELAY_STATE_FILE in docker-compose.yml): the one folder
# the process may write. A named volume mounted there copies this owner when it is first created.
# Node, not mkdir/chown: the image needs nothing but node (the compose test's base image has no coreutils).
RUN ["node", "-e", "const fs = require('fs'); fs.mkdirSync('/data', { recursive: true }); fs.chownSync('/data', 1000, 1000)"]
# The official image's unprivileged user (uid 1000).
USER node
EXPOSE 8080 8090
# Signals: the processes handle SIGTERM themselves (relay exits 0, a node leaves the ring first);
# compose adds `init: true` so a tiny init reaps children and forwards signals to node as PID 2.
# Exec form, and node itself: never `npx ringleader` or `npm start` here, which run the command
# through a shell that does not pass SIGTERM or SIGUSR2 on (README, "Signals and npx").
ENTRYPOINT ["node", "dist/cli/ringleader.js"]
CMD ["relay"]
