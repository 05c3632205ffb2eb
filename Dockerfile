# The managers' console, built in its own stage: Vite and the browser libraries are development
# packages (npm ci installs them here); the image below gets only the built files (dist/console).
FROM node:20-bookworm-slim AS console
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY src/console/web ./src/console/web
RUN npm run build:console

# One image for the api, worker and migrate roles (docker-compose.yml picks the command).
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY tsconfig.json .swcrc ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY migrations ./migrations
# The workflow code, bundled at build time: a worker starts without bundling it.
RUN node -r @swc-node/register -e "require('./src/temporal/worker').writeWorkflowBundle('/app/dist/workflow-bundle.js')"
ENV WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
# Served by the API at /console (src/console/router.ts).
COPY --from=console /build/dist/console ./dist/console
USER node
EXPOSE 3000
# TypeScript runs through swc at start-up.
ENTRYPOINT ["node", "-r", "@swc-node/register", "src/main.ts"]
CMD ["api"]
