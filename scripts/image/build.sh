#!/usr/bin/env bash
# Builds the kvring images (what `make image` runs):
#
#   kvring/node:<version>          ./Dockerfile --target node
#   kvring/operator:<version>      ./Dockerfile --target operator
#   kvring/demo-legacy:<version>   ./Dockerfile --target demo-legacy
#   kvring/demo-postgres:<version> images/demo-postgres/Dockerfile
#
#   scripts/image/build.sh [options] [node operator demo-legacy demo-postgres]
#     --engine auto|system|private  system: the Docker engine DOCKER_HOST (or
#                          the default socket) names; private: start Debian's
#                          dockerd here (dockerd.sh) in its own network
#                          namespace; auto (default): system if it answers,
#                          else private
#     --base public|local  public: node:20-bookworm-slim and postgres:15-bookworm
#                          from the registry; local: Debian bases made here by
#                          base.sh and `docker import`ed (no registry at all).
#                          Default: public with the system engine, local with
#                          a private one
#     --state DIR          the private engine's state (default .cache/image/dockerd;
#                          its data-root keeps the build cache between runs)
#     --keep-engine        leave the private engine running (prints DOCKER_HOST)
#     --save DIR           also `docker save` the images, into one archive
#                          DIR/kvring-images-<version>.tar (default
#                          .cache/image/out with a private engine, so they can
#                          be loaded elsewhere: `docker load -i`, or
#                          `ctr -n k8s.io images import` into a containerd)
#     --no-save            do not save (the private engine keeps the images in
#                          its data-root anyway)
#
# The build context is a snapshot (package files, sources, node_modules as
# hard links) so that every image of one run holds the same code even while
# the working tree changes. The npm packages come from node_modules, which
# `npm ci` made on this machine: the build reaches no registry.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

engine=auto base="" state="$IMAGE_CACHE/dockerd" keep=0 save="" no_save=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --engine) engine="$2"; shift 2 ;;
    --base) base="$2"; shift 2 ;;
    --state) state="$2"; shift 2 ;;
    --keep-engine) keep=1; shift ;;
    --save) save="$2"; shift 2 ;;
    --no-save) no_save=1; shift ;;
    -h | --help) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    node | operator | demo-legacy | demo-postgres) targets+=("$1"); shift ;;
    *) die "unknown argument $1 (try --help)" ;;
  esac
done
[ ${#targets[@]} -eq 0 ] && targets=(node operator demo-legacy demo-postgres)

cli="$(docker_cli)"
[ -n "$cli" ] || die "no docker client found (apt-get install docker.io)"
[ -d "$REPO/node_modules/typescript" ] || die "node_modules is missing: run \`make deps\` (npm ci) first"

# A running engine is driven by the client on PATH, which matches it (a Docker
# 29 engine refuses Debian's 20.10 client); Debian's client is for the private dockerd.
if [ "$engine" != private ] && [ -z "${KVRING_DOCKER_CLI:-}" ] && command -v docker >/dev/null &&
  "$(command -v docker)" info >/dev/null 2>&1; then
  cli="$(command -v docker)"
fi
if [ "$engine" = auto ]; then
  if "$cli" info >/dev/null 2>&1; then engine=system; else engine=private; fi
  log "engine: $engine ($([ $engine = system ] && echo "a Docker engine answers" || echo "no Docker engine answers; starting Debian's dockerd privately"))"
fi
case "$engine" in
  system) base="${base:-public}" ;;
  private)
    base="${base:-local}"
    bash "$image_lib_dir/ensure-deps.sh"
    ;;
  *) die "--engine must be auto, system or private" ;;
esac
[ "$engine" = private ] && [ -z "$save" ] && [ $no_save = 0 ] && save="$IMAGE_CACHE/out"

t_all=$(now)
ctx=""
cleanup() {
  local rc=$?
  [ -n "$ctx" ] && rm -rf --one-file-system "$ctx"
  if [ "$engine" = private ] && [ $keep = 0 ]; then "$image_lib_dir/dockerd.sh" stop "$state" || true; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$engine" = private ]; then
  # One build per engine state at a time (`make image` and the image test
  # share it, and its build cache). A caller that already holds the lock
  # (the image test, for its whole run) says so.
  mkdir -p "$(dirname "$state")"
  if [ "${KVRING_IMAGE_LOCK_HELD:-}" != 1 ]; then
    exec 7>"$state.lock"
    if ! flock -n 7; then
      log "another build or image test uses $state; waiting for it"
      flock 7
    fi
  fi
  eval "export $("$image_lib_dir/dockerd.sh" start "$state")"
fi

# --- base images ---------------------------------------------------------------
node_base=node:20-bookworm-slim
pg_base=postgres:15-bookworm
pull=()
if [ "$base" = local ]; then
  pull=(--pull=false)
  import_base() { # flavor -> tag
    local tar tag
    tar="$("$image_lib_dir/base.sh" "$1")"
    tag="$(base_tag "$tar")"
    if ! "$cli" image inspect "$tag" >/dev/null 2>&1; then
      local t
      t=$(now)
      "$cli" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' "$tar" "$tag" >/dev/null
      log "imported $tag in $(elapsed "$t")s"
    fi
    echo "$tag"
  }
  for t in "${targets[@]}"; do
    case "$t" in
      demo-postgres) pg_base="$(import_base postgres)" ;;
      *) [ "$node_base" = node:20-bookworm-slim ] && node_base="$(import_base node)" ;;
    esac
  done
fi

# --- build context snapshot ----------------------------------------------------------
# The workspace packages the images run (the Dockerfile copies the same list).
IMAGE_PACKAGES=(client format node devcluster demo-legacy bench cli operator)
needs_ctx=0
for t in "${targets[@]}"; do [ "$t" != demo-postgres ] && needs_ctx=1; done
if [ $needs_ctx = 1 ]; then
  mkdir -p "$IMAGE_CACHE"
  ctx="$(mktemp -d "$IMAGE_CACHE/context-XXXXXX")"
  t=$(now)
  (
    cd "$REPO"
    cp -a package.json package-lock.json tsconfig.base.json tsconfig.build.json Dockerfile .dockerignore "$ctx/"
    cp -a proto "$ctx/proto"
    # Each workspace package an image runs: its manifest, build settings and
    # sources (generated code and dist/ are made by the image build).
    for p in "${IMAGE_PACKAGES[@]}"; do
      mkdir -p "$ctx/$p"
      cp -a "$p/package.json" "$p/tsconfig.json" "$p/src" "$ctx/$p/"
      [ -f "$p/buf.gen.yaml" ] && cp -a "$p/buf.gen.yaml" "$ctx/$p/"
      rm -rf "$ctx/$p/src/gen"
      # Dependencies npm nested in the workspace (a version other than the
      # hoisted one, e.g. lru-cache for the node): the runtime needs them.
      if [ -d "$p/node_modules" ]; then cp -al "$p/node_modules" "$ctx/$p/node_modules" 2>/dev/null || cp -a "$p/node_modules" "$ctx/$p/node_modules"; fi
    done
    # Test-only workspaces: their manifests, so npm sees every workspace.
    for p in test/control-plane test/support; do
      mkdir -p "$ctx/$p" && cp -a "$p/package.json" "$ctx/$p/"
    done
    # Hard links: instant, and immune to a later `npm ci` (it writes new files).
    cp -al node_modules "$ctx/node_modules" 2>/dev/null || cp -a node_modules "$ctx/node_modules"
  )
  log "context snapshot in $(elapsed "$t")s"
fi

revision="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$REPO" status --porcelain -- "${IMAGE_PACKAGES[@]}" proto package.json package-lock.json 2>/dev/null)" ]; then
  revision="$revision-dirty"
fi
built=()
for t in "${targets[@]}"; do
  tag="$IMAGE_REPO_PREFIX/$t:$IMAGE_VERSION"
  tt=$(now)
  # Beside the engine's state: two engines may build at once.
  log_dir="$IMAGE_CACHE"
  [ "$engine" = private ] && log_dir="$state"
  log="$log_dir/build-$t.log"
  mkdir -p "$log_dir"
  if [ "$t" = demo-postgres ]; then
    args=(-t "$tag" --build-arg "BASE_IMAGE=$pg_base" --build-arg "VERSION=$IMAGE_VERSION" "$REPO/images/demo-postgres")
  else
    args=(-t "$tag" --target "$t" --build-arg "BASE_IMAGE=$node_base" --build-arg "VERSION=$IMAGE_VERSION"
      --label "org.opencontainers.image.revision=$revision" -f "$ctx/Dockerfile" "$ctx")
  fi
  # The classic builder: BuildKit needs buildx, which Debian's docker.io lacks.
  if ! DOCKER_BUILDKIT=0 "$cli" build "${pull[@]}" "${args[@]}" >"$log" 2>&1; then
    tail -40 "$log" >&2
    die "building $tag failed (log above, $log)"
  fi
  size="$("$cli" image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
  log "built $tag ($size) in $(elapsed "$tt")s"
  built+=("$tag")
done

# Layers of earlier builds that no tag uses any more (the current build's
# cache is kept: its layers are parents of the new tags). Only on the private
# engine: on a user's own engine, every dangling image would go, not just ours.
[ "$engine" = private ] && { "$cli" image prune -f >/dev/null || true; }

if [ -n "$save" ]; then
  # One archive: the images share their layers, saved once.
  mkdir -p "$save"
  archive="$save/kvring-images-$IMAGE_VERSION.tar"
  t=$(now)
  "$cli" save -o "$archive.tmp" "${built[@]}"
  mv -f "$archive.tmp" "$archive"
  log "saved ${built[*]} to $archive ($(du -h "$archive" | cut -f1), $(elapsed "$t")s): docker load -i, or ctr -n k8s.io images import"
fi
log "done in $(elapsed "$t_all")s: ${built[*]} (base: $base; engine: $engine)"
if [ "$engine" = private ] && [ $keep = 1 ]; then echo "DOCKER_HOST=$DOCKER_HOST"; fi
