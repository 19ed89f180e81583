#!/usr/bin/env bash
# Builds chaos-mesh's controller manager (cmd/chaos-controller-manager) from
# its Go module through the Go module proxy, and packs it into a one-layer
# image tarball (`docker save` format, what `ctr -n k8s.io images import`
# reads), both cached in .cache/chaos-mesh/<version>/ (git-ignored).
#
#   scripts/chaos-mesh/build.sh                 build what is missing
#   scripts/chaos-mesh/build.sh --print-image   the same, then print the tarball's path only
#   scripts/chaos-mesh/build.sh --print-dir     the same, then print the cache folder only
#                                               (bin/, image/, and crd.yaml: the module's
#                                               manifests/crd.yaml, for clusters without chaos-mesh)
#
# The version is pinned in versions.env. The module cannot be `go install`ed:
# its go.mod replaces github.com/chaos-mesh/chaos-mesh/api with ./api, a
# nested module that the module zip leaves out. So the module is copied to a
# work folder whose go.mod replaces that with the API module as the proxy
# serves it, and the binary is built there.
#
# Go's module and build caches are the ones scripts/k8s/build.sh uses
# (KVRING_GO_CACHE, default ${XDG_CACHE_HOME:-$HOME/.cache}/kvring-go). A warm
# run only reads stamp files.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=versions.env
source "$here/versions.env"

print=""
for arg in "$@"; do
  case "$arg" in
    --print-image) print=image ;;
    --print-dir) print=dir ;;
    -h | --help)
      sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "build.sh: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

# Messages go to stderr so that --print-* leave stdout to the path alone.
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh" chaos-mesh-build
total_start=$(now)

cache_root="$repo/.cache/chaos-mesh/$CHAOS_MESH_VERSION"
bin="$cache_root/bin"
image_dir="$cache_root/image"
stamps="$cache_root/stamps"
mkdir -p "$bin" "$image_dir" "$stamps"
binary="$bin/chaos-controller-manager"
build_id="$CHAOS_MESH_VERSION api=$CHAOS_MESH_API_VERSION"

go_cache="${KVRING_GO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvring-go}"

# image_tar (one reproducible layer, `docker save` format), shared with e2e/cluster/images.sh.
# shellcheck source=../lib/image-tar.sh
source "$here/../lib/image-tar.sh"

# The image's key: its recipe, its reference and the binary (by the sha256
# recorded when it was built, so the warm path does not hash 80 MB).
image_key() {
  printf '%s|%s|%s|%s' "$(declare -f image_tar)" "$(declare -f build_image)" "$CHAOS_MESH_IMAGE" \
    "$(cat "$stamps/binary.sha256")" | sha256sum | cut -c1-16
}

build_image() { # out
  local root
  root="$(mktemp -d "$image_dir/.rootfs-XXXXXX")"
  mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp" "$root/etc/webhook/certs"
  chmod 1777 "$root/tmp"
  install -m 0755 "$binary" "$root/usr/local/bin/chaos-controller-manager"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  image_tar "$1" "$CHAOS_MESH_IMAGE" "$root" '["/usr/local/bin/chaos-controller-manager"]' 'null' scripts/chaos-mesh/build.sh
  rm -rf "$root"
}

binary_fresh() {
  [ -x "$binary" ] && [ "$(cat "$stamps/binary" 2>/dev/null)" = "$build_id" ] && [ -s "$stamps/binary.sha256" ] &&
    [ -s "$cache_root/crd.yaml" ]
}

finish() {
  local key out t
  key="$(image_key)"
  out="$image_dir/chaos-controller-manager-$key.tar"
  if [ ! -f "$out" ]; then
    t=$(now)
    build_image "$out"
    find "$image_dir" -maxdepth 1 -name 'chaos-controller-manager-*.tar' ! -name "$(basename "$out")" -delete
    log "image $CHAOS_MESH_IMAGE: $(du -h "$out" | cut -f1) in $(elapsed "$t")s -> $out"
  else
    log "cached: $out ($CHAOS_MESH_IMAGE)"
  fi
  log "done in $(elapsed "$total_start")s"
  case "$print" in
    image) echo "$out" ;;
    dir) echo "$cache_root" ;;
  esac
  exit 0
}

if binary_fresh; then
  log "cached: $binary (chaos-mesh $CHAOS_MESH_VERSION)"
  finish
fi

command -v go >/dev/null || {
  log "Go is required to build chaos-controller-manager (see TOOLCHAIN.md)"
  exit 1
}

export GOMODCACHE="$go_cache/mod"
export GOCACHE="$go_cache/build"
export GOTOOLCHAIN=local
export GOFLAGS="-buildvcs=false -mod=mod"
work="$go_cache/work/chaos-mesh-$CHAOS_MESH_VERSION"
mkdir -p "$GOMODCACHE" "$GOCACHE" "$go_cache/work"

# Two builds at once (two clones, CI and a person) would race on the work
# folder and the bin folder: serialize them.
exec 9>"$go_cache/chaos-mesh-build.lock"
if ! flock -n 9; then
  log "another build holds $go_cache/chaos-mesh-build.lock; waiting"
  flock 9
fi
binary_fresh && finish

log "$(go version); GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE"

# --- the module, downloaded and copied into a writable work folder -----------
t=$(now)
dl="$(cd "$go_cache/work" && go mod download -json "$CHAOS_MESH_MODULE@$CHAOS_MESH_VERSION")" || {
  log "could not download $CHAOS_MESH_MODULE@$CHAOS_MESH_VERSION: $dl"
  exit 1
}
module_dir="$(printf '%s\n' "$dl" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -f "$module_dir/go.mod" ] || {
  log "go mod download gave no module folder: $dl"
  exit 1
}
log "module $CHAOS_MESH_MODULE@$CHAOS_MESH_VERSION in $module_dir ($(elapsed "$t")s)"
# The CRDs of the same version, for installing on a cluster that lacks them.
install -m 0644 "$module_dir/manifests/crd.yaml" "$cache_root/.crd.yaml.tmp"
mv -f "$cache_root/.crd.yaml.tmp" "$cache_root/crd.yaml"

if [ ! -f "$work/.ready" ]; then
  t=$(now)
  rm -rf "$work"
  mkdir -p "$work"
  # The module cache is read-only; the build needs to write go.mod and go.sum.
  cp -r "$module_dir/." "$work/"
  chmod -R u+w "$work"
  (cd "$work" && go mod edit \
    -replace "github.com/chaos-mesh/chaos-mesh/api=github.com/chaos-mesh/chaos-mesh/api@$CHAOS_MESH_API_VERSION")
  log "work module ready in $work ($(elapsed "$t")s): api => $CHAOS_MESH_API_VERSION"
  touch "$work/.ready"
fi

# --- the binary ----------------------------------------------------------------
t=$(now)
commit="${CHAOS_MESH_VERSION##*-}"
ldflags="-s -w"
ldflags+=" -X github.com/chaos-mesh/chaos-mesh/pkg/version.gitVersion=$CHAOS_MESH_VERSION"
ldflags+=" -X github.com/chaos-mesh/chaos-mesh/pkg/version.gitCommit=$commit"
log "building chaos-controller-manager $CHAOS_MESH_VERSION (CGO_ENABLED=0) ..."
# Upstream builds it with CGO_ENABLED=0 too (binary.generated.mk, $(GO)).
(cd "$work" && CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags "$ldflags" \
  -o "$bin/.chaos-controller-manager.tmp" ./cmd/chaos-controller-manager)
chmod 0755 "$bin/.chaos-controller-manager.tmp"
sha256sum "$bin/.chaos-controller-manager.tmp" | cut -d' ' -f1 >"$stamps/binary.sha256"
mv -f "$bin/.chaos-controller-manager.tmp" "$binary"
echo "$build_id" >"$stamps/binary"
log "built $binary ($(du -h "$binary" | cut -f1)) in $(elapsed "$t")s"
finish
