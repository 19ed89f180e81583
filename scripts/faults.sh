#!/usr/bin/env bash
# `make faults`: the fault-injection suite. Each scenario runs three nodes in
# network namespaces of its own (iproute2, as root), PostgreSQL and the demo
# legacy API, injects one kind of fault under a recorded workload (a 1 MiB
# memory budget that filler traffic keeps evicting, hot keys overwritten,
# deleted and given TTLs, a share through the retrying client), and checks
# the history with our checker and with Porcupine (tools/porcupine).
#
#   scripts/faults.sh                  every scenario, 15-60 s of faults each
#   scripts/faults.sh --short          all but mixed, flaky-network, drain; 6-20 s each (CI, < 9 min)
#   scripts/faults.sh kill pause       only these scenarios
#   scripts/faults.sh --build-only     build the Porcupine checker and stop
#
# Output goes to .cache/faults/<date>/ (histories, node logs, Porcupine
# visualizations of failing keys, summary.json/.md/.txt); .cache/faults/last
# points at the newest run. Environment: KVRING_FAULTS_MS (fault time per
# scenario), KVRING_FAULTS_SEED (workload seed), KVRING_GO_CACHE.
set -euo pipefail

# Pinned: change it here and the next run rebuilds the checker.
PORCUPINE_VERSION=v1.3.1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"
bin="$repo/.cache/bin"
go_cache="${KVRING_GO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvring-go}"
leftovers="$repo/.cache/faults/leftovers"

short=0
build_only=0
scenarios=()
for arg in "$@"; do
  case "$arg" in
    --short) short=1 ;;
    --build-only) build_only=1 ;;
    -h | --help)
      sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "faults.sh: unknown option '$arg' (try --help)" >&2
      exit 2
      ;;
    *) scenarios+=("$arg") ;;
  esac
done

# shellcheck source=lib/common.sh
source "$here/lib/common.sh" faults

# --- what the suite needs from the machine -----------------------------------
need_root() {
  if [ "$(id -u)" != 0 ]; then
    log "the fault suite creates network namespaces and veth pairs: run it as root"
    exit 1
  fi
}

ensure_faketime() {
  [ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] && return 0
  log "installing Debian's faketime (clock-skew scenario) ..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q faketime >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q faketime >/dev/null; }
}

build_porcupine() {
  local stamp="$bin/.kvring-porcupine.version"
  local want
  want="porcupine@$PORCUPINE_VERSION $(cat tools/porcupine/go.mod tools/porcupine/*.go | sha256sum | cut -c1-16)"
  if [ -x "$bin/kvring-porcupine" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    log "go is not on PATH: install Go 1.22 or newer to build the Porcupine checker"
    exit 1
  fi
  if ! grep -q "github.com/anishathalye/porcupine $PORCUPINE_VERSION" tools/porcupine/go.mod; then
    log "tools/porcupine/go.mod does not require porcupine $PORCUPINE_VERSION"
    exit 1
  fi
  mkdir -p "$bin" "$go_cache/mod" "$go_cache/build"
  log "building the Porcupine checker ($PORCUPINE_VERSION, Go module proxy) ..."
  (
    cd tools/porcupine
    export GOMODCACHE="$go_cache/mod" GOCACHE="$go_cache/build" GOFLAGS="-modcacherw -buildvcs=false"
    nice -n 19 go test ./... >/dev/null
    nice -n 19 go build -o "$bin/kvring-porcupine.tmp" .
  )
  mv "$bin/kvring-porcupine.tmp" "$bin/kvring-porcupine"
  echo "$want" >"$stamp"
}

# dist/ must be newer than every source the nodes run.
build_node() {
  if [ -f node/dist/main.js ] && [ -z "$(find node/src client/src format/src proto -newer node/dist/main.js -type f -print -quit)" ]; then
    return 0
  fi
  log "building the node (make build) ..."
  make -s build >/dev/null
}

# Namespaces and processes a crashed run left behind: each run lists them in
# .cache/faults/leftovers/<jest pid>-<id>.{pids,netns,dirs} while they exist.
# clean_leftovers: those of runs no longer alive; clean_leftovers PID: those
# of the (finished) jest process PID.
clean_leftovers() {
  local f pid ext
  [ -d "$leftovers" ] || return 0
  # Processes first (they keep namespaces alive), then namespaces, then files.
  for ext in pids netns dirs; do
    for f in "$leftovers"/*."$ext"; do
      [ -e "$f" ] || continue
      pid="$(basename "$f" | cut -d- -f1)"
      if [ -n "${1:-}" ]; then
        [ "$pid" = "$1" ] || continue
      elif kill -0 "$pid" 2>/dev/null; then
        continue
      fi
      case "$ext" in
        pids)
          # Lines "PID MARKER": killed only if the command line still holds
          # the marker (the pid may have been reused since).
          while read -r p marker; do
            [[ -n "$p" && -n "$marker" && -r "/proc/$p/cmdline" ]] || continue
            if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$marker"; then
              kill -CONT "$p" 2>/dev/null || true
              kill -KILL "$p" 2>/dev/null || true
            fi
          done <"$f"
          sleep 0.5
          ;;
        netns)
          while read -r name; do
            [ -n "$name" ] || continue
            ip netns del "$name" 2>/dev/null || ip link del "$name" 2>/dev/null || true
          done <"$f"
          ;;
        dirs)
          # Only the suite's own temporary files (PostgreSQL data, hba file).
          while read -r path; do
            case "$path" in
              "${TMPDIR:-/tmp}"/kvring-pg-* | "${TMPDIR:-/tmp}"/kvring-faults-hba-*) rm -rf -- "$path" ;;
            esac
          done <"$f"
          ;;
      esac
      rm -f "$f"
    done
  done
}

need_root
build_porcupine
if [ "$build_only" = 1 ]; then
  log "checker: $bin/kvring-porcupine"
  exit 0
fi
ensure_faketime
build_node
clean_leftovers

run_dir="$repo/.cache/faults/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$run_dir"
ln -sfn "$run_dir" "$repo/.cache/faults/last"
# Keep the newest 10 runs (histories and logs take ~10 MB a run).
# (The glob always matches: the run directory made above is one of them.)
printf '%s\n' "$repo"/.cache/faults/20[0-9][0-9][01][0-9][0-3][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z |
  head -n -10 | while read -r old; do rm -rf -- "$old"; done

patterns=()
if [ "${#scenarios[@]}" -gt 0 ]; then
  for s in "${scenarios[@]}"; do patterns+=("node/test/faults/scenarios/$s.faults.ts"); done
fi
ignore=()
# The short form (CI) leaves out the scenarios whose faults others cover:
# mixed (all of them), flaky-network (eviction-flaky, under eviction
# pressure), drain (ttl-heal drains too).
if [ "$short" = 1 ] && [ "${#scenarios[@]}" -eq 0 ]; then
  ignore=(--testPathIgnorePatterns 'scenarios/(mixed|flaky-network|drain)\.faults\.ts$')
fi

# The nodes run from a copy of the built packages taken now: another build of
# the shared tree mid-run must not change (or half-write) what a restarted
# node runs. Third-party modules are linked; the workspace packages the node
# imports (@kvring/client, @kvring/format) are copied with it.
snapshot_node() {
  local p
  for p in node client format; do
    mkdir -p "$run_dir/$p"
    cp -a "$p/package.json" "$p/dist" "$run_dir/$p/"
    # A workspace's own versions of a dependency (npm nests them when the
    # hoisted one differs, e.g. lru-cache) resolve from here.
    if [ -d "$p/node_modules" ]; then ln -s "$PWD/$p/node_modules" "$run_dir/$p/node_modules"; fi
  done
  cp -a proto "$run_dir/proto"
  mkdir -p "$run_dir/node_modules/@kvring"
  for p in node_modules/* node_modules/.bin; do
    [ "$p" = node_modules/@kvring ] && continue
    ln -s "$PWD/$p" "$run_dir/$p"
  done
  ln -s ../../client "$run_dir/node_modules/@kvring/client"
  ln -s ../../format "$run_dir/node_modules/@kvring/format"
}
snapshot_node

log "run directory: $run_dir"
t0=$SECONDS
KVRING_FAULTS_DIR="$run_dir" KVRING_FAULTS_SHORT="$short" KVRING_FAULTS_NODE_MAIN="$run_dir/node/dist/main.js" \
  nice -n 5 node --experimental-vm-modules node_modules/jest/bin/jest.js \
  -c node/test/faults/jest.config.js --runInBand ${ignore[@]+"${ignore[@]}"} ${patterns[@]+"${patterns[@]}"} &
jest_pid=$!
# Scenarios clean up after themselves; a jest that dies (Ctrl-C, a CI
# timeout) leaves its nodes and namespaces, cleaned here.
trap 'kill -TERM "$jest_pid" 2>/dev/null; wait "$jest_pid"; clean_leftovers "$jest_pid"; exit 130' INT TERM
set +e
wait "$jest_pid"
rc=$?
set -e
trap - INT TERM
clean_leftovers "$jest_pid"
if [ -f "$run_dir/summary.txt" ]; then
  echo
  cat "$run_dir/summary.txt"
fi
echo
log "wall time $((SECONDS - t0)) s; figures in $run_dir/summary.json, table in $run_dir/summary.md"
exit $rc
