#!/usr/bin/env bash
# `make kind-e2e`: the end-to-end suites (e2e/test/) on a kind cluster, on a
# Linux machine with Docker (cgroup v2) and internet access.
#
#   scripts/kind-e2e.sh [JEST_ARGS...]   create the cluster, build and load the images, install
#                                        chaos-mesh, run the suites, delete the cluster (also on
#                                        failure and Ctrl-C). JEST_ARGS as for scripts/e2e.sh test,
#                                        e.g. e2e/test/scenarios or -t 'Kubernetes 3'
#   scripts/kind-e2e.sh -h | --help      this text
#
# Settings (environment):
#   KVRING_KIND_NAME=kvring-e2e     the cluster's name
#   KVRING_KIND_REUSE=1             use the cluster of that name if it exists (else create it)
#   KVRING_KIND_KEEP=1              leave the cluster up (kind delete cluster --name kvring-e2e removes it)
#   KVRING_KIND_BUILD=0             build nothing: load the kvring images already in Docker
#   KVRING_KIND_CHAOS_MESH=0        do not install chaos-mesh (it is left alone if already installed)
#   KVRING_KIND_CONFIG=FILE         kind's cluster config (default e2e/kind/cluster.yaml)
#   KVRING_KIND_NODE_IMAGE=IMAGE    another node image than the config's
#   KVRING_KIND=PATH                the kind binary (default: kind on PATH, else the pinned one)
#   KVRING_E2E_KUBECTL, KVRING_E2E_HELM  kubectl and helm (default: .cache/k8s's, else on PATH)
#   KVRING_KIND_CACHE=DIR           kubeconfig, image archives, the built kind (default .cache/kind)
#   KVRING_E2E_LOGS=DIR             logs, phase times, cluster state (default e2e/logs/kind)
#
# Every phase prints how long it took; $KVRING_E2E_LOGS/phases.txt keeps the figures.
set -euo pipefail

# --- pins -------------------------------------------------------------------------
# kind: the release whose notes list the node image pinned in e2e/kind/cluster.yaml
# (kindest/node:v1.35.8@sha256:07b2536e…). kind v0.31.0 was the first with 1.35 images.
KIND_VERSION=v0.33.0
KIND_MIN_VERSION=v0.31.0
# Images the suites run that the local cluster (scripts/e2e.sh) makes for itself.
BUSYBOX_IMAGE="${KVRING_E2E_BUSYBOX_IMAGE:-busybox:1.36.1}"
PROMETHEUS_IMAGE="${KVRING_E2E_PROMETHEUS_IMAGE:-prom/prometheus:v3.13.2}"
# Jaeger 2.12.0 is the release of the Go module v1.75.0 that scripts/jaeger/build.sh builds.
JAEGER_IMAGE="${KVRING_E2E_JAEGER_IMAGE:-jaegertracing/jaeger:2.12.0}"
# chaos-mesh's chart (https://charts.chaos-mesh.org) for the chaos-mesh scenario.
CHAOS_MESH_VERSION=2.8.3
CHAOS_MESH_NS=chaos-mesh

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

name="${KVRING_KIND_NAME:-kvring-e2e}"
config="${KVRING_KIND_CONFIG:-$repo/e2e/kind/cluster.yaml}"
cache="${KVRING_KIND_CACHE:-$repo/.cache/kind}"
kubeconfig="$cache/$name.kubeconfig"
logs="${KVRING_E2E_LOGS:-$repo/e2e/logs/kind}"
phases="$logs/phases.txt"

# shellcheck source=lib/common.sh
source "$here/lib/common.sh" kind-e2e

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }

case "${1:-}" in
  -h | --help | help)
    usage
    exit 0
    ;;
esac

# The kvring images `make image` builds (scripts/image/lib.sh: same variables, same defaults).
image_version="${KVRING_IMAGE_VERSION:-$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$repo/package.json" | head -1)}"
image_prefix="${KVRING_IMAGE_PREFIX:-kvring}"
kvring_images=()
for t in node operator demo-legacy demo-postgres; do kvring_images+=("$image_prefix/$t:$image_version"); done

# --- preflight: every missing tool is named at once, with where to get it ------------------
k8s_version="$(sed -n 's/^KUBERNETES_VERSION=//p' "$repo/scripts/k8s/versions.env" 2>/dev/null || true)"
built_bin="$repo/.cache/k8s/${k8s_version:-none}/bin"

# kubectl and helm as the suites pick them (e2e/test/support): the variable's value, else the
# pinned build scripts/k8s/build.sh made (.cache/k8s/<version>/bin), else the one on PATH.
find_tool() { # env-value name built-dir
  if [ -n "$1" ]; then
    echo "$1"
  elif [ -x "$3/$2" ]; then
    echo "$3/$2"
  elif command -v "$2" >/dev/null 2>&1; then
    command -v "$2"
  fi
}

# `kind version` prints e.g. "kind v0.33.0 go1.25.1 linux/amd64".
kind_version_of() { "$1" version 2>/dev/null | awk '{ print $2 }'; }
# `timeout` where coreutils has it (not on every machine that runs Docker).
bounded() { # seconds command...
  if command -v timeout >/dev/null 2>&1; then timeout "$@"; else "${@:2}"; fi
}
version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]; }

# kind: KVRING_KIND; else kind on PATH when it is recent enough for the pinned node image; else
# the pinned release built once with `go install` into .cache/kind/bin (a Go module: no download
# script, no checksum list to keep, and the binary matches this machine). `go run` would relink it
# on every one of the half-dozen kind calls. An old kind on PATH is used (with a warning) only
# when there is no Go to build the pinned one.
kind_bin="" kind_needs_install=0
pick_kind() {
  local path_kind v
  if [ -n "${KVRING_KIND:-}" ]; then
    kind_bin="$KVRING_KIND"
    return
  fi
  path_kind="$(command -v kind 2>/dev/null || true)"
  if [ -n "$path_kind" ]; then
    v="$(kind_version_of "$path_kind")"
    if [ -n "$v" ] && version_at_least "$v" "$KIND_MIN_VERSION"; then
      kind_bin="$path_kind"
      return
    fi
  fi
  if [ -x "$cache/bin/kind" ] && [ "$(kind_version_of "$cache/bin/kind")" = "$KIND_VERSION" ]; then
    kind_bin="$cache/bin/kind"
  elif command -v go >/dev/null 2>&1; then
    kind_bin="$cache/bin/kind"
    kind_needs_install=1
    if [ -n "$path_kind" ]; then
      log "kind on PATH is ${v:-of unknown version}, older than $KIND_MIN_VERSION: building kind $KIND_VERSION instead"
    fi
  elif [ -n "$path_kind" ]; then
    kind_bin="$path_kind"
    log "warning: kind on PATH is ${v:-of unknown version}; the node image is built for kind $KIND_VERSION (kind supports node images only with the release that made them)"
  fi
}

preflight() {
  local problems=() info host_arch engine_arch minor
  # Docker: a client, and an engine that answers it.
  if ! command -v docker >/dev/null 2>&1; then
    problems+=("docker: no docker client on PATH. Install Docker Engine (https://docs.docker.com/engine/install/) and start it")
  elif ! info="$(bounded 30 docker info --format '{{.ServerVersion}}|{{.CgroupVersion}}|{{.OSType}}|{{.Architecture}}' 2>&1)"; then
    problems+=("docker: the client is installed but no Docker engine answers ($(echo "$info" | grep -v '^$' | tail -1)). Start it (e.g. sudo systemctl start docker), point DOCKER_HOST at one, or add your user to the docker group")
  else
    IFS='|' read -r _ cgroup_version engine_os engine_arch <<<"$info"
    if [ "$cgroup_version" = 1 ]; then
      problems+=("docker: the engine runs on cgroup v1; kind's Kubernetes 1.35 node images need cgroup v2 (boot the host with systemd.unified_cgroup_hierarchy=1, or use a distribution that defaults to it)")
    fi
    [ "$engine_os" = linux ] || problems+=("docker: the engine runs ${engine_os:-an unknown OS}'s containers; kind needs Linux containers")
    host_arch="$(uname -m)"
    if [ "${KVRING_KIND_BUILD:-1}" != 0 ]; then
      # The image build copies this machine's node_modules into the images (no registry in the
      # build), and the build stage runs @bufbuild/buf's binary for this OS and CPU from there.
      [ "$(uname -s)" = Linux ] ||
        problems+=("build: the kvring images are built from this machine's node_modules, whose buf binary is $(uname -s)'s; build on Linux (or build the images elsewhere, load them into Docker, and set KVRING_KIND_BUILD=0)")
      [ "${engine_arch/aarch64/arm64}" = "${host_arch/aarch64/arm64}" ] ||
        problems+=("build: the Docker engine runs $engine_arch, this machine is $host_arch; node_modules' native binaries must match the engine (or set KVRING_KIND_BUILD=0 with the images already in Docker)")
    fi
  fi
  pick_kind
  [ -n "$kind_bin" ] ||
    problems+=("kind: not on PATH, and no Go toolchain to build kind $KIND_VERSION. Install it: go install sigs.k8s.io/kind@$KIND_VERSION, or the release binary (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)")
  kubectl="$(find_tool "${KVRING_E2E_KUBECTL:-}" kubectl "$built_bin")"
  [ -n "$kubectl" ] ||
    problems+=("kubectl: not on PATH. Install it (https://kubernetes.io/docs/tasks/tools/), or build the pinned one: scripts/k8s/build.sh kubectl (Go module proxy, into .cache/k8s)")
  helm="$(find_tool "${KVRING_E2E_HELM:-}" helm "$built_bin")"
  [ -n "$helm" ] ||
    problems+=("helm: not on PATH. Install Helm 3 (https://helm.sh/docs/intro/install/), or build the pinned one: scripts/k8s/build.sh helm")
  command -v node >/dev/null 2>&1 || problems+=("node: Node.js 20 or later is needed for the suites (https://nodejs.org)")
  if [ ! -f "$repo/node_modules/jest/bin/jest.js" ] && ! command -v npm >/dev/null 2>&1; then
    problems+=("npm: node_modules is missing and there is no npm to install it (npm ci)")
  fi
  if [ ${#problems[@]} -gt 0 ]; then
    log "cannot run the suites on kind:"
    for p in "${problems[@]}"; do log "  - $p"; done
    exit 1
  fi
  # kubectl is supported one minor away from the API server (1.35).
  minor="$("$kubectl" version --client -o json 2>/dev/null | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' | head -1)"
  if [ -n "$minor" ] && { [ "$minor" -lt 34 ] || [ "$minor" -gt 36 ]; }; then
    log "warning: $kubectl is 1.$minor; the cluster is 1.35 (kubectl is supported within one minor version)"
  fi
}

# --- phases -------------------------------------------------------------------------
# Timed without wrapping the work in a function called from `||` (that would turn `set -e`
# off inside it): phase_begin/phase_end around plain commands, and the EXIT trap records a
# phase that never ended as FAILED.
phase_name="" phase_t=""
phase_begin() {
  phase_name="$1" phase_t=$(now)
  log "== $1"
}
phase_end() {
  printf '%-20s %8ss\n' "$phase_name" "$(elapsed "$phase_t")" >>"$phases"
  log "$phase_name: $(elapsed "$phase_t")s"
  phase_name=""
}

kubectl_k() { "$kubectl" --kubeconfig="$kubeconfig" "$@"; }
cluster_exists() { "$kind_bin" get clusters 2>/dev/null | grep -qx -- "$name"; }

# `docker save` one or more images to one archive, for `kind load image-archive`. With Docker's
# containerd image store an image pulled from a registry is an index naming every platform
# while only this platform's content is present; kind imports archives with
# `ctr images import --all-platforms`, which then fails ("content digest ... not found",
# kubernetes-sigs/kind#3795). Saving just the engine's platform avoids that.
save_images() { # archive image...
  local archive="$1" args=()
  shift
  if [ "$containerd_store" = 1 ] && docker image save --help 2>&1 | grep -q -- '--platform'; then
    args=(--platform "$platform")
  fi
  docker image save "${args[@]}" -o "$archive.tmp" "$@"
  mv -f "$archive.tmp" "$archive"
}

# A public image: pulled on the host (the host's registry settings and credentials apply),
# loaded into the nodes. When the archive cannot be made or imported (an older Docker CLI with
# the containerd store), each node pulls it itself.
load_public_image() { # image
  local img="$1" archive node
  archive="$cache/images/$(echo "$img" | tr '/:@' '___').tar"
  docker pull --platform "$platform" "$img" >/dev/null
  if save_images "$archive" "$img" && "$kind_bin" load image-archive "$archive" --name "$name"; then
    log "loaded $img"
  else
    log "loading $img from an archive failed; pulling it on each node instead"
    for node in $("$kind_bin" get nodes --name "$name"); do
      docker exec "$node" crictl pull "$img" >/dev/null
    done
    log "pulled $img on the nodes"
  fi
}

t0="" cluster_ours=0 rc=0
# Runs from the EXIT trap (shellcheck cannot see that it is called).
# shellcheck disable=SC2317
finish() {
  local code=$?
  trap - EXIT INT TERM HUP
  if [ -n "$phase_name" ]; then
    printf '%-20s %8ss FAILED\n' "$phase_name" "$(elapsed "$phase_t")" >>"$phases"
    log "$phase_name FAILED after $(elapsed "$phase_t")s"
  fi
  if [ "$cluster_ours" = 1 ] && cluster_exists; then
    bounded 60 "$kubectl" --kubeconfig="$kubeconfig" get all,events -A -o wide >"$logs/cluster-state.txt" 2>&1 || true
    if [ "$code" != 0 ]; then
      log "collecting the cluster's logs into $logs/cluster-logs (kind export logs)"
      bounded 180 "$kind_bin" export logs "$logs/cluster-logs" --name "$name" >/dev/null 2>&1 || true
    fi
    if [ "${KVRING_KIND_KEEP:-}" = 1 ]; then
      log "KVRING_KIND_KEEP=1: the cluster stays up (KUBECONFIG=$kubeconfig; kind delete cluster --name $name removes it)"
    else
      local t
      t=$(now)
      "$kind_bin" delete cluster --name "$name" --kubeconfig "$kubeconfig" || code=1
      printf '%-20s %8ss\n' "delete cluster" "$(elapsed "$t")" >>"$phases"
      log "delete cluster: $(elapsed "$t")s"
    fi
  fi
  if [ -n "$t0" ]; then
    log "kind-e2e total: $(elapsed "$t0")s (exit $code)"
    [ -f "$phases" ] && sed 's/^/[kind-e2e]   /' "$phases" >&2
  fi
  exit "$code"
}

# --- run --------------------------------------------------------------------------------
containerd_store=0 platform="" kubectl="" helm="" cgroup_version="" engine_os="" engine_arch=""
preflight
mkdir -p "$cache/images" "$logs"
: >"$phases"
t0=$(now)
trap finish EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

platform="$(docker version --format '{{.Server.Os}}/{{.Server.Arch}}')"
docker info --format '{{json .DriverStatus}}' 2>/dev/null | grep -q 'io.containerd.snapshotter' && containerd_store=1
log "docker $(docker version --format '{{.Server.Version}}') ($platform$([ $containerd_store = 1 ] && echo ', containerd image store')); kubectl $kubectl; helm $helm"

if [ "$kind_needs_install" = 1 ]; then
  phase_begin "install kind"
  GOBIN="$cache/bin" go install "sigs.k8s.io/kind@$KIND_VERSION"
  phase_end
fi
log "kind: $kind_bin ($(kind_version_of "$kind_bin"))"

phase_begin "kind cluster"
if cluster_exists; then
  [ "${KVRING_KIND_REUSE:-}" = 1 ] ||
    die "a kind cluster named $name exists already: KVRING_KIND_REUSE=1 runs on it, or kind delete cluster --name $name removes it (KVRING_KIND_NAME picks another name)"
  cluster_ours=1
  log "reusing the kind cluster $name"
else
  # From here on the cluster is this run's: a failed or interrupted create is cleaned up too.
  cluster_ours=1
  create=(create cluster --name "$name" --config "$config" --kubeconfig "$kubeconfig" --wait 5m)
  [ -n "${KVRING_KIND_NODE_IMAGE:-}" ] && create+=(--image "$KVRING_KIND_NODE_IMAGE")
  # --kubeconfig: kind writes the context there, not into ~/.kube/config.
  "$kind_bin" "${create[@]}"
fi
"$kind_bin" get kubeconfig --name "$name" >"$kubeconfig.tmp"
mv -f "$kubeconfig.tmp" "$kubeconfig"
kubectl_k wait --for=condition=Ready nodes --all --timeout=180s >/dev/null
kubectl_k -n kube-system rollout status deployment/coredns --timeout=180s >/dev/null
phase_end

if [ "${KVRING_KIND_BUILD:-1}" != 0 ]; then
  phase_begin "build images"
  # What `make image` runs, without its `deps` prerequisite (that also installs promtool for
  # the unit tests, as root) and with the engine fixed: scripts/image/build.sh on the Docker
  # engine that answered above (--engine system: base images node:20-bookworm-slim and
  # postgres:15-bookworm from the registry); never the private dockerd `auto` falls back to,
  # whose images kind could not see. KVRING_DOCKER_CLI: the same client as here.
  [ -f "$repo/node_modules/.installed" ] || [ -f "$repo/node_modules/jest/bin/jest.js" ] ||
    make -C "$repo" node_modules/.installed
  KVRING_DOCKER_CLI="$(command -v docker)" bash "$repo/scripts/image/build.sh" --engine system
  phase_end
fi

phase_begin "load images"
for img in "${kvring_images[@]}"; do
  docker image inspect "$img" >/dev/null 2>&1 ||
    die "$img is not in Docker ($([ "${KVRING_KIND_BUILD:-1}" = 0 ] && echo 'KVRING_KIND_BUILD=0: build it first, make image' || echo 'the build did not make it'))"
done
# One archive: the four images share their layers.
save_images "$cache/images/kvring-images-$image_version.tar" "${kvring_images[@]}"
"$kind_bin" load image-archive "$cache/images/kvring-images-$image_version.tar" --name "$name"
log "loaded ${kvring_images[*]}"
load_public_image "$BUSYBOX_IMAGE"
load_public_image "$PROMETHEUS_IMAGE"
load_public_image "$JAEGER_IMAGE"
phase_end

if [ "${KVRING_KIND_CHAOS_MESH:-1}" != 0 ]; then
  phase_begin "chaos-mesh"
  if kubectl_k get crd podchaos.chaos-mesh.org >/dev/null 2>&1; then
    log "chaos-mesh is installed already: left as it is"
  else
    # --repo: nothing is added to the user's helm repositories. kind's nodes run containerd.
    "$helm" --kubeconfig="$kubeconfig" install chaos-mesh chaos-mesh \
      --repo https://charts.chaos-mesh.org --version "$CHAOS_MESH_VERSION" \
      --namespace "$CHAOS_MESH_NS" --create-namespace \
      --set chaosDaemon.runtime=containerd \
      --set chaosDaemon.socketPath=/run/containerd/containerd.sock \
      --set dashboard.create=false \
      --wait --timeout 8m >/dev/null
    log "chaos-mesh $CHAOS_MESH_VERSION installed in namespace $CHAOS_MESH_NS"
  fi
  phase_end
fi

# The same suites as `make e2e`, on the host: scripts/e2e.sh test runs jest here when
# KVRING_E2E_KUBECONFIG is set (it times them into the same phases.txt).
[ -f "$repo/node_modules/jest/bin/jest.js" ] || make -C "$repo" node_modules/.installed
KVRING_E2E_KUBECONFIG="$kubeconfig" \
  KVRING_E2E_KUBECTL="$kubectl" \
  KVRING_E2E_HELM="$helm" \
  KVRING_E2E_LOGS="$logs" \
  KVRING_E2E_NODE_IMAGE="${KVRING_E2E_NODE_IMAGE:-$image_prefix/node:$image_version}" \
  KVRING_E2E_BUSYBOX_IMAGE="$BUSYBOX_IMAGE" \
  KVRING_E2E_PROMETHEUS_IMAGE="$PROMETHEUS_IMAGE" \
  KVRING_E2E_JAEGER_IMAGE="$JAEGER_IMAGE" \
  KVRING_E2E_NODE_EXEC="${KVRING_E2E_NODE_EXEC:-docker exec $name-control-plane}" \
  "$repo/scripts/e2e.sh" test "$@" || rc=$?
exit $rc
