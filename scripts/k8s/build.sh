#!/usr/bin/env bash
# Builds the Kubernetes binaries the tests run (etcd, kube-apiserver, kubectl
# by default) from their Go modules through the Go module proxy, and caches
# them in .cache/k8s/<kubernetes version>/bin (git-ignored).
#
#   scripts/k8s/build.sh                      etcd kube-apiserver kubectl
#   scripts/k8s/build.sh kubelet coredns      these components (plus nothing else)
#   scripts/k8s/build.sh --all                every component listed below
#   scripts/k8s/build.sh --print-dir [...]    build if needed, then print the bin folder only
#
# Components: etcd kube-apiserver kubectl kube-controller-manager
#             kube-scheduler kubelet kube-proxy coredns helm
#
# If KUBEBUILDER_ASSETS is set and holds every requested binary, nothing is
# built and that folder is used. Versions are pinned in versions.env.
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod points the k8s.io/*
# staging modules at ./staging. So a throwaway module requires it and replaces
# every staging module with its published v0.Y.Z release. etcd's server module
# has relative replaces too, so it gets a throwaway module of its own.
#
# Go's module and build caches live outside the clone (KVRING_GO_CACHE,
# default ${XDG_CACHE_HOME:-$HOME/.cache}/kvring-go) so every clone and CI
# run on the machine reuses them. A warm run only checks stamp files.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

all_components=(etcd kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet kube-proxy coredns helm)
default_components=(etcd kube-apiserver kubectl)

print_dir=0
requested=()
for arg in "$@"; do
  case "$arg" in
    --all) requested+=("${all_components[@]}") ;;
    --print-dir) print_dir=1 ;;
    -h | --help)
      sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "build.sh: unknown flag $arg (try --help)" >&2
      exit 2
      ;;
    *)
      known=0
      for c in "${all_components[@]}"; do [ "$c" = "$arg" ] && known=1; done
      if [ $known = 0 ]; then
        echo "build.sh: unknown component '$arg'; known: ${all_components[*]}" >&2
        exit 2
      fi
      requested+=("$arg")
      ;;
  esac
done
[ ${#requested[@]} -eq 0 ] && requested=("${default_components[@]}")
# de-duplicate, keep order
mapfile -t requested < <(printf '%s\n' "${requested[@]}" | awk '!seen[$0]++')

# Messages go to stderr so that --print-dir leaves stdout to the folder alone.
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh" k8s-build

# --- KUBEBUILDER_ASSETS: use what is there, build nothing ---------------------
if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  missing=()
  for c in "${requested[@]}"; do [ -x "$KUBEBUILDER_ASSETS/$c" ] || missing+=("$c"); done
  if [ ${#missing[@]} -eq 0 ]; then
    log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS holds ${requested[*]}; nothing to build"
    [ $print_dir = 1 ] && echo "$KUBEBUILDER_ASSETS"
    exit 0
  fi
  log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks ${missing[*]}; building into the cache instead"
fi

cache_root="$repo/.cache/k8s/$KUBERNETES_VERSION"
bin="$cache_root/bin"
stamps="$cache_root/stamps"
mkdir -p "$bin" "$stamps"

version_of() {
  case "$1" in
    etcd) echo "$ETCD_VERSION" ;;
    coredns) echo "$COREDNS_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
    *) echo "$KUBERNETES_VERSION" ;;
  esac
}
# A binary is fresh when its stamp names the pinned version it was built at.
fresh() { [ -x "$bin/$1" ] && [ "$(cat "$stamps/$1" 2>/dev/null)" = "$(version_of "$1")" ]; }

todo=()
for c in "${requested[@]}"; do fresh "$c" || todo+=("$c"); done
if [ ${#todo[@]} -eq 0 ]; then
  log "cached in $bin: ${requested[*]} (Kubernetes $KUBERNETES_VERSION, etcd $ETCD_VERSION)"
  [ $print_dir = 1 ] && echo "$bin"
  exit 0
fi

command -v go >/dev/null || {
  log "Go is required to build ${todo[*]} (or set KUBEBUILDER_ASSETS to a folder holding them)"
  exit 1
}

go_cache="${KVRING_GO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvring-go}"
export GOMODCACHE="$go_cache/mod"
export GOCACHE="$go_cache/build"
export GOTOOLCHAIN=local
export GOFLAGS="-buildvcs=false -mod=mod"
work="$go_cache/work"
mkdir -p "$GOMODCACHE" "$GOCACHE" "$work"

# Two builds at once (two clones, CI and a person) would race on the
# throwaway modules and the bin folder: serialize them.
exec 9>"$go_cache/build.lock"
if ! flock -n 9; then
  log "another build holds $go_cache/build.lock; waiting"
  flock 9
fi
# After waiting, the other build may have produced what we need.
still=()
for c in "${todo[@]}"; do fresh "$c" || still+=("$c"); done
todo=("${still[@]+"${still[@]}"}")

log "$(go version); GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE"
log "to build: ${todo[*]:-nothing} -> $bin"
total_start=$(now)

# go build into a temp name, then rename: a killed build never leaves a
# half-written binary that the stamp check would accept.
install_bin() { # name built-file
  chmod 0755 "$2"
  mv -f "$2" "$bin/$1"
  version_of "$1" >"$stamps/$1"
}

# --- k8s.io/kubernetes components ----------------------------------------------
k8s_module_ready=0
k8s_module() {
  [ $k8s_module_ready = 1 ] && return
  local dir="$work/kubernetes-$KUBERNETES_VERSION" staging_version gomod
  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  mkdir -p "$dir"
  if [ ! -f "$dir/.ready" ]; then
    local t
    t=$(now)
    log "resolving k8s.io/kubernetes@$KUBERNETES_VERSION (staging modules at $staging_version)"
    gomod=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
      sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    [ -f "$gomod" ] || {
      log "could not download k8s.io/kubernetes@$KUBERNETES_VERSION"
      exit 1
    }
    {
      echo "module kvring.dev/k8s-binaries"
      echo
      echo "go 1.25.0"
      echo
      # Kubernetes builds with its own godebug defaults; keep them.
      grep -E '^godebug ' "$gomod" || true
      echo
      echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
      echo
      echo "replace ("
      grep -oE '^[[:space:]]*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" |
        awk -v v="$staging_version" '{ printf "\t%s => %s %s\n", $1, $1, v }'
      echo ")"
    } >"$dir/go.mod"
    log "  $(grep -c ' => ' "$dir/go.mod") staging modules replaced"
    # tools.go-style anchor so `go get` records the packages we build.
    printf 'package main\n\nfunc main() {}\n' >"$dir/main.go"
    (cd "$dir" && go get "k8s.io/kubernetes@$KUBERNETES_VERSION" >&2)
    touch "$dir/.ready"
    log "  module ready in $(elapsed "$t")s"
  fi
  k8s_module_ready=1
}

k8s_ldflags() {
  local v="$KUBERNETES_VERSION" minor major date
  major="${v#v}"
  major="${major%%.*}"
  minor="${v#v*.}"
  minor="${minor%%.*}"
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local x=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    x+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    x+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  echo "-s -w$x"
}

build_k8s() { # component
  k8s_module
  local dir="$work/kubernetes-$KUBERNETES_VERSION" t cgo=0
  # kubelet uses cgo where available (as upstream builds it); the rest are static.
  if [ "$1" = kubelet ] && command -v gcc >/dev/null; then cgo=1; fi
  t=$(now)
  log "building $1 $KUBERNETES_VERSION (CGO_ENABLED=$cgo) ..."
  (cd "$dir" && CGO_ENABLED=$cgo go build -trimpath -ldflags "$(k8s_ldflags)" \
    -o "$bin/.$1.tmp" "k8s.io/kubernetes/cmd/$1")
  install_bin "$1" "$bin/.$1.tmp"
  log "built $1 in $(elapsed "$t")s"
}

# --- modules with a main package of their own ---------------------------------
build_module_main() { # component module version package
  local name="$1" module="$2" version="$3" pkg="$4" t
  local dir="$work/$name-$version"
  t=$(now)
  log "building $name $version from $pkg ..."
  mkdir -p "$dir"
  if [ ! -f "$dir/.ready" ]; then
    printf 'module kvring.dev/%s-binary\n\ngo 1.25.0\n' "$name" >"$dir/go.mod"
    printf 'package main\n\nfunc main() {}\n' >"$dir/main.go"
    (cd "$dir" && go get "$module@$version" >&2)
    touch "$dir/.ready"
  fi
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/.$name.tmp" "$pkg")
  install_bin "$name" "$bin/.$name.tmp"
  log "built $name in $(elapsed "$t")s"
}

for c in "${todo[@]+"${todo[@]}"}"; do
  case "$c" in
    etcd) build_module_main etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3 ;;
    coredns) build_module_main coredns github.com/coredns/coredns "$COREDNS_VERSION" github.com/coredns/coredns ;;
    helm) build_module_main helm helm.sh/helm/v3 "$HELM_VERSION" helm.sh/helm/v3/cmd/helm ;;
    *) build_k8s "$c" ;;
  esac
done

log "done in $(elapsed "$total_start")s: $(cd "$bin" && printf '%s ' *)"
[ $print_dir = 1 ] && echo "$bin"
exit 0
