# The API and the worker in one image: `docker build -t mission-control:latest .`, then run
# `node dist/apps/api.js` or `node dist/apps/worker.js` (see docs/deployment.md). Not built on the machines this
# was written on: they reach no container registry, so no base image can be pulled there.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build && npm prune --omit=dev

# No compilers, no npm cache, no sources but what the processes read at run time.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules node_modules
COPY --from=build --chown=node:node /app/dist dist
# The console's templates and assets, and the recipes whose hashes name the sandbox and environment images.
COPY --from=build --chown=node:node /app/console/templates console/templates
COPY --from=build --chown=node:node /app/console/assets console/assets
COPY --from=build --chown=node:node /app/sandbox/image sandbox/image
COPY --from=build --chown=node:node /app/environments environments
USER node
EXPOSE 3000 9464
# node itself is PID 1: it handles SIGTERM with the ordered shutdown (no shell in between to swallow it).
CMD ["node", "dist/apps/api.js"]
