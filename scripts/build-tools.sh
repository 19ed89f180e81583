#!/usr/bin/env bash
# `make tools`: builds the developer tools the README mentions from their Go
# modules (through the Go module proxy) into .cache/bin/ (git-ignored).
#
#   scripts/build-tools.sh            build what is missing or of another version
#   scripts/build-tools.sh --check    also ask a running `make run` cluster
#                                     (127.0.0.1:50051) for its services with grpcurl
#
# Go's module and build caches live outside the clone (KVRING_GO_CACHE,
# default ${XDG_CACHE_HOME:-$HOME/.cache}/kvring-go), shared with
# scripts/k8s/build.sh, so every clone and CI run on the machine reuses them.
# A warm run only compares a version stamp.
set -euo pipefail

# Pinned versions: change one here and the next run rebuilds that tool.
GRPCURL_VERSION=v1.9.4

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
bin="$repo/.cache/bin"
go_cache="${KVRING_GO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvring-go}"

check=0
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    -h | --help)
      sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "build-tools.sh: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

# shellcheck source=lib/common.sh
source "$here/lib/common.sh" tools

if ! command -v go >/dev/null 2>&1; then
  log "go is not on PATH: install Go 1.22 or newer (https://go.dev/dl/) and run again"
  exit 1
fi

# go_install NAME MODULE_PATH VERSION: installs MODULE_PATH@VERSION as $bin/NAME
# unless the stamp says that version is already there.
go_install() {
  local name="$1" pkg="$2" version="$3"
  local stamp="$bin/.$name.version"
  if [ -x "$bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pkg@$version" ]; then
    log "$name $version already built ($bin/$name)"
    return 0
  fi
  mkdir -p "$bin" "$go_cache/mod" "$go_cache/build"
  # Install into a scratch GOBIN and move into place, so an interrupted build
  # never leaves a half-written binary behind a valid stamp.
  local scratch
  scratch="$(mktemp -d)"
  log "building $name $version (go install $pkg@$version) ..."
  local t0=$SECONDS
  if ! (
    cd "$scratch" &&
      GOBIN="$scratch" GOMODCACHE="$go_cache/mod" GOCACHE="$go_cache/build" \
        GOFLAGS="${GOFLAGS:-} -trimpath" CGO_ENABLED=0 \
        nice -n 19 go install -ldflags='-s -w' "$pkg@$version"
  ); then
    rm -rf "$scratch"
    log "go install $pkg@$version failed (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))"
    return 1
  fi
  mv -f "$scratch/$name" "$bin/$name"
  rm -rf "$scratch"
  echo "$pkg@$version" >"$stamp"
  log "$name $version built in $((SECONDS - t0))s: $bin/$name"
}

go_install grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"

if [ $check = 1 ]; then
  addr=127.0.0.1:50051
  log "asking $addr for its services (needs a running cluster: make run)"
  services="$("$bin/grpcurl" -plaintext -max-time 5 "$addr" list)"
  echo "$services"
  missing=()
  for svc in kvring.v1.KVService kvring.v1.AdminService cache.CacheService grpc.health.v1.Health \
    grpc.reflection.v1.ServerReflection; do
    grep -qx "$svc" <<<"$services" || missing+=("$svc")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "missing from the list: ${missing[*]}"
    exit 1
  fi
  log "every expected service is listed"
fi
