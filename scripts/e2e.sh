#!/usr/bin/env bash
# `make e2e`: the end-to-end suites on a real single-node Kubernetes built on
# this machine (e2e/cluster/, see e2e/README.md).
#
#   scripts/e2e.sh [run] [JEST_ARGS...]  up, the suites, down (down also on failure and Ctrl-C;
#                                        KVRING_E2E_KEEP=1 leaves the cluster up afterwards;
#                                        KVRING_E2E_IMAGES="a.tar b.tar" imports them after up)
#   scripts/e2e.sh up | down | status    the local cluster alone
#   scripts/e2e.sh test [JEST_ARGS...]   the suites against the running local cluster, or against
#                                        any cluster when KVRING_E2E_KUBECONFIG names its kubeconfig
#   scripts/e2e.sh exec CMD [ARGS...]    CMD inside the local cluster's namespaces (KUBECONFIG set,
#                                        kubectl/helm on PATH), e.g. scripts/e2e.sh exec kubectl get pods -A
#   scripts/e2e.sh import TAR...         load `docker save` tarballs into the local cluster's containerd
#
# Every phase prints how long it took; e2e/logs/ keeps each component's log,
# the phase timings (phases.txt), the pods' logs and the cluster's last state.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cluster="$repo/e2e/cluster/cluster.sh"
logs="${KVRING_E2E_LOGS:-$repo/e2e/logs}"
cd "$repo"

# shellcheck source=lib/common.sh
source "$here/lib/common.sh" e2e

jest_cmd() {
  [ -f node_modules/jest/bin/jest.js ] || {
    log "node_modules is missing: run make deps (npm ci) first"
    exit 1
  }
  echo node --experimental-vm-modules node_modules/jest/bin/jest.js -c e2e/jest.config.js
}

# The suites: inside the local cluster's namespaces (its API server and
# ClusterIPs are only reachable there), or on the host for another cluster.
run_tests() {
  local t rc=0 jest
  jest="$(jest_cmd)"
  t=$(now)
  if [ -n "${KVRING_E2E_KUBECONFIG:-}" ]; then
    log "suites against $KVRING_E2E_KUBECONFIG"
    # shellcheck disable=SC2086
    $jest "$@" || rc=$?
  else
    kubeconfig="$("$cluster" kubeconfig)"
    # shellcheck disable=SC2086
    "$cluster" exec env KVRING_E2E_KUBECONFIG="$kubeconfig" $jest "$@" || rc=$?
  fi
  mkdir -p "$logs"
  printf '%-20s %8ss%s\n' "suites" "$(elapsed "$t")" "$([ $rc = 0 ] || echo " FAILED (exit $rc)")" >>"$logs/phases.txt"
  log "suites: $(elapsed "$t")s (exit $rc)"
  return $rc
}

cmd="${1:-run}"
case "$cmd" in
  up | down | status | exec | import | kubeconfig)
    shift
    exec "$cluster" "$cmd" "$@"
    ;;
  test)
    shift
    run_tests "$@"
    ;;
  -h | --help | help)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  run | -*)
    if [ "$cmd" = run ] && [ $# -gt 0 ]; then shift; fi
    t0=$(now)
    rc=0
    # shellcheck disable=SC2317 # run by the EXIT trap below, not called directly
    finish() {
      local code=$?
      trap - EXIT INT TERM HUP
      if [ -n "${KVRING_E2E_KEEP:-}" ]; then
        log "KVRING_E2E_KEEP is set: the cluster stays up (scripts/e2e.sh down removes it)"
      else
        "$cluster" down || code=1
      fi
      log "e2e total: $(elapsed "$t0")s"
      [ -f "$logs/phases.txt" ] && sed 's/^/[e2e]   /' "$logs/phases.txt" >&2
      exit "$code"
    }
    trap finish EXIT
    trap 'log "interrupted"; exit 130' INT TERM HUP
    "$cluster" up
    # The scenarios (e2e/test/scenarios/) need the project's images: by default those `make image` saved.
    KVRING_E2E_IMAGES="${KVRING_E2E_IMAGES-$(shopt -s nullglob && printf '%s ' .cache/image/out/kvring-images-*.tar)}"
    # Scenario 9 runs chaos-mesh's controller manager, built from its Go module.
    if cm_image="$(bash scripts/chaos-mesh/build.sh --print-image)"; then
      KVRING_E2E_IMAGES="${KVRING_E2E_IMAGES:-} $cm_image"
    else
      log "scripts/chaos-mesh/build.sh failed: scenario 9 (chaos-mesh) will fail"
    fi
    # Scenario 12 runs Jaeger, built from its Go module (scripts/jaeger/build.sh).
    if jaeger_image="$(bash scripts/jaeger/build.sh --print-image)"; then
      KVRING_E2E_IMAGES="${KVRING_E2E_IMAGES:-} $jaeger_image"
    else
      log "scripts/jaeger/build.sh failed: scenario 12 (tracing) will fail"
    fi
    if [ -n "${KVRING_E2E_IMAGES:-}" ]; then
      t=$(now)
      # shellcheck disable=SC2086
      "$cluster" import $KVRING_E2E_IMAGES
      printf '%-20s %8ss\n' "import images" "$(elapsed "$t")" >>"$logs/phases.txt"
    fi
    run_tests "$@" || rc=$?
    exit $rc
    ;;
  *)
    log "unknown command '$cmd' (try --help)"
    exit 2
    ;;
esac
