# The modelship worker image (used by docker-compose.yml). Untested here: no Docker engine runs on our machines.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY python ./python
COPY bin ./bin
COPY src ./src
COPY config ./config
# postinstall builds .venv (trainer libraries); prepare compiles TypeScript into dist/. npm 10 (this image) ignores
# package.json allowScripts: onnxruntime-node's documented variable keeps its GPU download skipped here.
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci --no-audit --no-fund
ENV MODELSHIP_HOME=/data
# The worker's build id (Worker Deployment Versioning): the image has no .git to read the commit from.
ARG MODELSHIP_BUILD_ID
ENV MODELSHIP_BUILD_ID=${MODELSHIP_BUILD_ID}
CMD ["node", "bin/modelship.js", "worker"]
