#!/usr/bin/env bash
# Builds Jaeger (cmd/jaeger: the OpenTelemetry-Collector-based all-in-one with
# an OTLP receiver, in-memory storage and the query API) from its Go module
# through the Go module proxy, cached in .cache/jaeger/<version>/ (git-ignored),
# and on request packs it into a one-layer image tarball for e2e.
#
#   scripts/jaeger/build.sh                 build the binary if missing
#   scripts/jaeger/build.sh --print-bin     the same, then print the binary's path only
#   scripts/jaeger/build.sh --print-image   the binary and the image tarball
#                                           (`docker save` format), then print its path only
#
# The version is pinned in versions.env. The module cannot be `go install`ed:
# its go.mod holds a replace directive (Shopify/sarama), which Go honours only
# in the main module. So the module is copied to a work folder, where it is the
# main module, and the binary is built there. The web UI's assets are not in
# the module zip (upstream builds them with npm): the binary serves its
# placeholder page, and the query API, which is all the tests use, is whole.
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
    --print-bin) print=bin ;;
    --print-image) print=image ;;
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
source "$here/../lib/common.sh" jaeger-build
total_start=$(now)

cache_root="$repo/.cache/jaeger/$JAEGER_VERSION"
bin="$cache_root/bin"
image_dir="$cache_root/image"
stamps="$cache_root/stamps"
mkdir -p "$bin" "$stamps"
binary="$bin/jaeger"
build_id="$JAEGER_MODULE@$JAEGER_VERSION $JAEGER_PACKAGE"

go_cache="${KVRING_GO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvring-go}"

# image_tar (one reproducible layer, `docker save` format), shared with e2e/cluster/images.sh.
# shellcheck source=../lib/image-tar.sh
source "$here/../lib/image-tar.sh"

# The image's key: its recipe, its reference and the binary (by the sha256
# recorded when it was built, so the warm path does not hash the binary).
image_key() {
  printf '%s|%s|%s|%s' "$(declare -f image_tar)" "$(declare -f build_image)" "$JAEGER_IMAGE" \
    "$(cat "$stamps/binary.sha256")" | sha256sum | cut -c1-16
}

build_image() { # out
  local root
  root="$(mktemp -d "$image_dir/.rootfs-XXXXXX")"
  mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp"
  chmod 1777 "$root/tmp"
  install -m 0755 "$binary" "$root/usr/local/bin/jaeger"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  # Without a config file cmd/jaeger runs its built-in all-in-one
  # configuration (memory storage, OTLP on 4317/4318, query on 16686). Its
  # receivers bind ${JAEGER_LISTEN_HOST:-localhost}: a Deployment sets
  # JAEGER_LISTEN_HOST=0.0.0.0 so that other pods can send spans.
  image_tar "$1" "$JAEGER_IMAGE" "$root" '["/usr/local/bin/jaeger"]' 'null' scripts/jaeger/build.sh
  rm -rf "$root"
}

binary_fresh() {
  [ -x "$binary" ] && [ "$(cat "$stamps/binary" 2>/dev/null)" = "$build_id" ] && [ -s "$stamps/binary.sha256" ]
}

finish() {
  local key out t
  if [ "$print" = image ]; then
    mkdir -p "$image_dir"
    key="$(image_key)"
    out="$image_dir/jaeger-$key.tar"
    if [ ! -f "$out" ]; then
      t=$(now)
      build_image "$out"
      find "$image_dir" -maxdepth 1 -name 'jaeger-*.tar' ! -name "$(basename "$out")" -delete
      log "image $JAEGER_IMAGE: $(du -h "$out" | cut -f1) in $(elapsed "$t")s -> $out"
    else
      log "cached: $out ($JAEGER_IMAGE)"
    fi
  fi
  log "done in $(elapsed "$total_start")s"
  case "$print" in
    bin) echo "$binary" ;;
    image) echo "$out" ;;
  esac
  exit 0
}

if binary_fresh; then
  log "cached: $binary (jaeger $JAEGER_VERSION)"
  finish
fi

command -v go >/dev/null || {
  log "Go is required to build Jaeger (see TOOLCHAIN.md)"
  exit 1
}

export GOMODCACHE="$go_cache/mod"
export GOCACHE="$go_cache/build"
export GOTOOLCHAIN=local
export GOFLAGS="-buildvcs=false -mod=mod"
work="$go_cache/work/jaeger-$JAEGER_VERSION"
mkdir -p "$GOMODCACHE" "$GOCACHE" "$go_cache/work"

# Two builds at once (two clones, CI and a person) would race on the work
# folder and the bin folder: serialize them.
exec 9>"$go_cache/jaeger-build.lock"
if ! flock -n 9; then
  log "another build holds $go_cache/jaeger-build.lock; waiting"
  flock 9
fi
binary_fresh && finish

log "$(go version); GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE"

# --- the module, downloaded and copied into a writable work folder -----------
if [ ! -f "$work/.ready" ]; then
  t=$(now)
  dl="$(cd "$go_cache/work" && go mod download -json "$JAEGER_MODULE@$JAEGER_VERSION")" || {
    log "could not download $JAEGER_MODULE@$JAEGER_VERSION: $dl"
    exit 1
  }
  module_dir="$(printf '%s\n' "$dl" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -f "$module_dir/go.mod" ] || {
    log "go mod download gave no module folder: $dl"
    exit 1
  }
  rm -rf "$work"
  mkdir -p "$work"
  # The module cache is read-only; the build may write go.sum.
  cp -r "$module_dir/." "$work/"
  chmod -R u+w "$work"
  touch "$work/.ready"
  log "module $JAEGER_MODULE@$JAEGER_VERSION copied to $work ($(elapsed "$t")s)"
fi

# --- the binary ----------------------------------------------------------------
t=$(now)
ldflags="-s -w"
ldflags+=" -X github.com/jaegertracing/jaeger/internal/version.latestVersion=$JAEGER_VERSION"
log "building jaeger $JAEGER_VERSION (CGO_ENABLED=0; cold: several minutes) ..."
(cd "$work" && CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags "$ldflags" \
  -o "$bin/.jaeger.tmp" "$JAEGER_PACKAGE")
chmod 0755 "$bin/.jaeger.tmp"
sha256sum "$bin/.jaeger.tmp" | cut -d' ' -f1 >"$stamps/binary.sha256"
mv -f "$bin/.jaeger.tmp" "$binary"
echo "$build_id" >"$stamps/binary"
log "built $binary ($(du -h "$binary" | cut -f1)) in $(elapsed "$t")s"
finish
