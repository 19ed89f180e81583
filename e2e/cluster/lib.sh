# Shared by the scripts in e2e/cluster/ (sourced, not run): where things
# live, the cluster's addresses, logging and phase timing, and how a command
# is run inside the cluster's namespaces.
# shellcheck shell=bash

cluster_lib_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$cluster_lib_dir/../.." && pwd)"

# --- names and addresses --------------------------------------------------
# Everything lives in one network namespace, so these addresses never meet
# the machine's own network: the namespace has no link to the outside.
E2E_NAME="${KVRING_E2E_NAME:-kvring-e2e}"
NETNS="$E2E_NAME"
NETNS_PATH="/run/netns/$NETNS"
NODE_NAME="$E2E_NAME-node"
# The node's address: on one end of a veth pair whose two ends are both in
# the namespace (a link with a carrier, going nowhere). The API server
# advertises it, the kubelet registers it, kube-proxy's rules reach it.
NODE_IF=kvr0
NODE_IP=10.250.0.1
POD_CIDR=10.244.0.0/24
POD_GATEWAY=10.244.0.1
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
CLUSTER_DOMAIN=cluster.local
API_PORT=6443
# cgroup v1 parent of every pod (and created/removed in every hierarchy).
CGROUP_PARENT="/$E2E_NAME"

# --- folders ----------------------------------------------------------------
# STATE_DIR keeps what is worth keeping between runs (image tarballs, the
# busybox .deb); CLUSTER_DIR is one cluster's state and goes on `down`.
STATE_DIR="${KVRING_E2E_STATE:-$REPO/.cache/e2e}"
CLUSTER_DIR="$STATE_DIR/cluster"
PID_DIR="$CLUSTER_DIR/pids"
LOG_DIR="${KVRING_E2E_LOGS:-$REPO/e2e/logs}"
KUBECONFIG_PATH="$CLUSTER_DIR/admin.kubeconfig"
# Inside the cluster's mount namespace /run is a tmpfs of its own: sockets,
# runc and containerd state, pod network namespaces and shim sockets
# (containerd 1.6 puts those in /run/containerd/s whatever its config says)
# all live and die there.
RUN_DIR="/run/$E2E_NAME"
CONTAINERD_SOCK="$RUN_DIR/containerd.sock"

# Images the cluster itself needs, built here (no registry is reachable).
PAUSE_IMAGE="kvring.local/e2e/pause:1"
BUSYBOX_IMAGE="kvring.local/e2e/busybox:1"
# Debian's prometheus (scenario 8 runs it as a pod; its data dir is an emptyDir).
PROMETHEUS_IMAGE="kvring.local/e2e/prometheus:1"
COREDNS_IMAGE_REPO="kvring.local/e2e/coredns"

# --- output -------------------------------------------------------------------
# log, die, now, elapsed: messages tagged [e2e] on stderr.
# shellcheck source=../../scripts/lib/common.sh
source "$REPO/scripts/lib/common.sh" e2e

# phase NAME COMMAND...: runs it (errexit stays on inside), prints and
# records how long it took. A phase that fails exits the script; the caller's
# EXIT trap reads CURRENT_PHASE to say which one.
CURRENT_PHASE=""
PHASE_T0=""
phase() {
  local name="$1"
  shift
  CURRENT_PHASE="$name"
  PHASE_T0=$(now)
  log "phase $name ..."
  "$@"
  local took
  took=$(elapsed "$PHASE_T0")
  log "phase $name: ${took}s"
  printf '%-20s %8ss\n' "$name" "$took" >>"$LOG_DIR/phases.txt"
  CURRENT_PHASE=""
}

# --- the cluster's namespaces -----------------------------------------------
# The holder is a `sleep infinity` that owns the cluster's mount namespace;
# every daemon joins it and the network namespace.
holder_pid() {
  local pid
  pid="$(cat "$PID_DIR/nsholder" 2>/dev/null || true)"
  if [ -n "$pid" ] && [ -e "/proc/$pid/ns/mnt" ] && [ "$(readlink "/proc/$pid/ns/net")" = "$(netns_id)" ]; then
    echo "$pid"
  fi
}

# The inode of the network namespace, as /proc/PID/ns/net shows it.
netns_id() {
  [ -e "$NETNS_PATH" ] || return 0
  echo "net:[$(stat -L -c %i "$NETNS_PATH")]"
}

# The network namespace exists but this checkout did not make it (its id is
# not the one recorded in CLUSTER_DIR): another checkout's cluster, or a
# leftover whose state folder is gone. Neither up nor down touches it then.
netns_foreign() {
  [ -e "$NETNS_PATH" ] && [ "$(netns_id)" != "$(cat "$CLUSTER_DIR/netns-id" 2>/dev/null)" ]
}

refuse_foreign_netns() {
  netns_foreign || return 0
  [ -n "${KVRING_E2E_FORCE_DOWN:-}" ] && [ "${1:-}" = down ] && return 0
  die "network namespace $NETNS exists but was not made by this checkout ($CLUSTER_DIR): another checkout's" \
    "cluster, or a leftover. Take it down where it was made; if it is a leftover, run" \
    "KVRING_E2E_FORCE_DOWN=1 scripts/e2e.sh down. A second cluster beside it needs its own" \
    "KVRING_E2E_NAME and KVRING_E2E_STATE."
}

# in_cluster COMMAND...: runs it in the cluster's network and mount
# namespaces (nsenter, not `ip netns exec`: that remounts /sys and the
# cgroup mounts vanish, so runc fails with "no cgroup mount found").
in_cluster() {
  local h
  h="$(holder_pid)"
  [ -n "$h" ] || die "the cluster's namespaces are not there (scripts/e2e.sh up)"
  nsenter --net="$NETNS_PATH" --mount="/proc/$h/ns/mnt" -- "$@"
}

# running PID: the process exists and is not a zombie (this machine's init
# reaps orphans only every few seconds, so a dead daemon lingers as one).
# Builtins only: teardown asks this of every process on the machine.
running() {
  local stat state
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  # The state follows the command name, which is in parentheses and may hold spaces.
  state="${stat##*) }"
  state="${state%% *}"
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# pid_alive NAME: prints the pid of a daemon started by start_daemon if it runs.
pid_alive() {
  local pid
  pid="$(cat "$PID_DIR/$1" 2>/dev/null || true)"
  if [ -n "$pid" ] && running "$pid"; then echo "$pid"; fi
}

# start_daemon NAME COMMAND...: runs it in the cluster's namespaces, in a
# session of its own (Ctrl-C in the terminal reaches the scripts, which stop
# it, not the daemon directly), logging to $LOG_DIR/NAME.log.
start_daemon() {
  local name="$1" h
  shift
  h="$(holder_pid)"
  [ -n "$h" ] || die "cannot start $name: the cluster's namespaces are not there"
  # Not a process-group leader (no job control here), so setsid does not
  # fork and neither does nsenter: $! is the daemon itself.
  # 8>&-: the daemon must not inherit the lock that serializes up/down.
  setsid nsenter --net="$NETNS_PATH" --mount="/proc/$h/ns/mnt" -- "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null 8>&- &
  echo $! >"$PID_DIR/$name"
}

# wait_until WHAT SECONDS DAEMON COMMAND...: polls COMMAND (quietly) every
# 0.25 s until it succeeds; fails early if DAEMON (a start_daemon name, or
# "-") has exited, and after SECONDS, showing the end of its log.
wait_until() {
  local what="$1" secs="$2" daemon="$3" i
  shift 3
  for ((i = 0; i < secs * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [ "$daemon" != - ] && [ -z "$(pid_alive "$daemon")" ]; then
      tail -n 40 "$LOG_DIR/$daemon.log" >&2 || true
      die "$daemon exited while waiting for $what (log: $LOG_DIR/$daemon.log)"
    fi
    sleep 0.25
  done
  if [ "$daemon" != - ]; then tail -n 40 "$LOG_DIR/$daemon.log" >&2 || true; fi
  die "timed out after ${secs}s waiting for $what"
}

# kubectl against the cluster, from inside its network namespace.
kc() {
  in_cluster "$BIN/kubectl" --kubeconfig="$KUBECONFIG_PATH" --cache-dir="$CLUSTER_DIR/kubectl-cache" "$@"
}

# The Kubernetes binaries: the folder scripts/k8s/build.sh --print-dir
# named when the cluster came up (recorded), else its cache folder.
k8s_bin_dir() {
  if [ -f "$CLUSTER_DIR/bin-dir" ]; then
    cat "$CLUSTER_DIR/bin-dir"
  else
    # shellcheck source=../../scripts/k8s/versions.env
    (source "$REPO/scripts/k8s/versions.env" && echo "$REPO/.cache/k8s/$KUBERNETES_VERSION/bin")
  fi
}
BIN="$(k8s_bin_dir)"
