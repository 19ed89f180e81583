# The verbs a person types. `make run` and `make test` work on a fresh clone:
# they install what they need on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE_BIN := node_modules/.bin
JEST := node --experimental-vm-modules node_modules/jest/bin/jest.js

.PHONY: help deps gen build typecheck lint format test unit run bench tools k8s-bins jaeger image old-image manifests faults chaos-mesh e2e kind-e2e quickstarts clean

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# npm ci only when the lockfile changed since the last install.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed ## install npm dependencies (and system tools the tests use)
	@bash scripts/ensure-system-deps.sh

gen: deps ## generate protobuf code (buf + ts-proto) into node/src/gen and client/src/gen (npm run gen: the image build runs the same)
	npm run --silent gen

build: gen ## compile every workspace package into its dist/ (tsc -b, in dependency order)
	$(NODE_BIN)/tsc -b tsconfig.build.json

typecheck: gen ## tsc --noEmit over sources and tests
	$(NODE_BIN)/tsc -p tsconfig.json --noEmit

lint: deps ## eslint + prettier --check + buf lint + buf breaking (against proto/breaking-baseline.json) + shellcheck (every shell script)
	$(NODE_BIN)/eslint .
	$(NODE_BIN)/prettier --check .
	$(NODE_BIN)/buf lint proto
	$(NODE_BIN)/buf breaking proto --against proto/breaking-baseline.json
	@bash scripts/lint-shell.sh

format: deps ## rewrite sources with prettier and eslint --fix
	$(NODE_BIN)/prettier --write .
	$(NODE_BIN)/eslint --fix .

k8s-bins: ## build etcd, kube-apiserver, kubectl and helm from their Go modules (cached in .cache/k8s)
	@bash scripts/k8s/build.sh etcd kube-apiserver kubectl helm

# Cold: ~5 min of Go build on 2 cores (CI's first run); warm: a stamp read.
jaeger: ## build Jaeger (all-in-one, OTLP in, query API) from its Go module, cached in .cache/jaeger: the tracing tests run it
	@bash scripts/jaeger/build.sh

image: deps ## build the images (a private dockerd + Debian bases when no Docker engine runs)
	bash scripts/image/build.sh

old-image: deps ## the node image of the upgrade baseline commit (e2e scenario 13 rolls to it and back; cached by commit)
	bash scripts/old-version/image.sh

manifests: deps ## render manifests/install.yaml from the Helm chart
	bash scripts/render-install.sh

test: build typecheck lint k8s-bins jaeger ## the one test command: types, lint, unit + integration tests
	@mkdir -p .cache
	@set +e; $(JEST) --json --outputFile=.cache/jest.json $(JEST_ARGS); rc=$$?; \
	  node scripts/jest-totals.mjs .cache/jest.json; exit $$rc

unit: gen ## only the fast unit tests
	$(JEST) node/test/unit operator/test/unit client/test cli/test bench/test demo-legacy/test

run: build ## start PostgreSQL, the demo legacy API and 3 nodes on 127.0.0.1-3
	node devcluster/dist/cluster.js

bench: build jaeger ## the prototype's benchmark shape against a local 3-node cluster, then tracing's CPU cost (off, ratio 0.01, 1.0)
	node bench/dist/main.js $(BENCH_ARGS)
	node bench/dist/tracing-overhead.js $(BENCH_TRACING_ARGS)

tools: ## build grpcurl into .cache/bin (Go module proxy)
	@bash scripts/build-tools.sh

faults: build ## the fault-injection suite: kills, pauses, partitions, PostgreSQL and legacy faults, clock skew; Porcupine
	@bash scripts/faults.sh $(FAULTS_ARGS)

e2e: build image old-image chaos-mesh ## end-to-end: a single-node Kubernetes assembled here (in its own netns), the images, the suites (and the kubectl plugin from the host), teardown
	@bash scripts/e2e.sh

chaos-mesh: ## chaos-mesh's controller manager from its Go module, and its image (.cache/chaos-mesh)
	@bash scripts/chaos-mesh/build.sh

kind-e2e: ## the same suites on a kind cluster (needs Docker, kind, helm, kubectl, internet): create, build+load images, run, delete
	@bash scripts/kind-e2e.sh $(JEST_ARGS)

quickstarts: deps ## build the Go and Python quickstarts (quickstarts/; .cache/quickstarts/go, .cache/venv-quickstart-*)
	bash quickstarts/go/build.sh
	bash quickstarts/python/build.sh

clean: ## remove build outputs
	rm -rf */dist node/src/gen client/src/gen .cache/jest.json
