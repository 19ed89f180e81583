#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, inside a network namespace
# of its own (see e2e/README.md for the layout and why each setting is there):
#
#   e2e/cluster/cluster.sh up        bring it up (idempotent: a healthy cluster is left alone)
#   e2e/cluster/cluster.sh down      stop everything, remove its state; logs stay in e2e/logs/
#   e2e/cluster/cluster.sh status    what runs; exit 0 only when every component is healthy
#   e2e/cluster/cluster.sh exec CMD  run CMD inside the cluster's namespaces, with
#                                    KUBECONFIG set and the cluster's binaries on PATH
#   e2e/cluster/cluster.sh import TAR...  load `docker save` tarballs into its containerd
#   e2e/cluster/cluster.sh kubeconfig   print the admin kubeconfig's path
#
# Components: containerd, runc and the CNI plugins from Debian; etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy (iptables), kubectl and CoreDNS (a Deployment) built from their
# Go modules by scripts/k8s/build.sh. `up` tears down what it started if it
# fails or is interrupted (KVRING_E2E_KEEP_ON_FAILURE=1 keeps it to debug).
# Needs root.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=images.sh
source "$here/images.sh"
# shellcheck source=pki.sh
source "$here/pki.sh"
# shellcheck source=daemons.sh
source "$here/daemons.sh"
# shellcheck source=teardown.sh
source "$here/teardown.sh"

COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

# --- prerequisites ------------------------------------------------------------
ensure_packages() {
  local need=() pair
  # command:Debian package
  for pair in containerd:containerd runc:runc iptables:iptables ip:iproute2 nsenter:util-linux \
    findmnt:util-linux openssl:openssl gcc:gcc curl:curl dpkg-deb:dpkg; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
  done
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  # pause.c is linked statically.
  [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
  mapfile -t need < <(printf '%s\n' "${need[@]+"${need[@]}"}" | awk 'NF && !seen[$0]++')
  [ ${#need[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
  # Debian starts containerd as a service when it installs it; the cluster
  # runs its own, so a service this install started is stopped again.
  if printf '%s\n' "${need[@]}" | grep -qx containerd && command -v systemctl >/dev/null &&
    systemctl is-active --quiet containerd 2>/dev/null; then
    systemctl stop containerd || true
  fi
}

prereqs() {
  [ "$(id -u)" = 0 ] || die "the local cluster needs root (network namespaces, containerd, cgroups)"
  ensure_packages
  local dir
  dir="$(bash "$REPO/scripts/k8s/build.sh" --print-dir etcd kube-apiserver kubectl kube-controller-manager \
    kube-scheduler kubelet kube-proxy coredns helm)"
  mkdir -p "$CLUSTER_DIR" "$PID_DIR"
  echo "$dir" >"$CLUSTER_DIR/bin-dir"
  BIN="$dir"
}

images() {
  mapfile -t IMAGE_TARS < <(build_cluster_images)
  [ ${#IMAGE_TARS[@]} = 4 ] || die "building the cluster's images failed"
}

# --- the namespaces -------------------------------------------------------------
# Kernel settings the kubelet insists on (it writes them when they differ).
# They are global, not per namespace: the cluster's mount namespace gets
# plain files over them, so the kubelet's writes never reach the machine.
KUBELET_SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes)

namespaces() {
  [ ! -e "$NETNS_PATH" ] || die "network namespace $NETNS exists already (scripts/e2e.sh down first)"
  ip netns add "$NETNS"
  netns_id >"$CLUSTER_DIR/netns-id"
  ip -n "$NETNS" link set lo up
  # Both ends of the pair stay in the namespace: an interface with a carrier
  # for the node's address, linked to nothing outside.
  ip -n "$NETNS" link add "$NODE_IF" type veth peer name "${NODE_IF}p"
  ip -n "$NETNS" link set "${NODE_IF}p" up
  ip -n "$NETNS" link set "$NODE_IF" up
  ip -n "$NETNS" addr add "$NODE_IP/32" dev "$NODE_IF"
  # Processes in the namespace (kubectl, the tests) reach ClusterIPs: a route
  # for the range, which kube-proxy's OUTPUT rules then rewrite. No default route.
  ip -n "$NETNS" route add "$SERVICE_CIDR" dev "$NODE_IF" src "$NODE_IP"
  nsenter --net="$NETNS_PATH" sysctl -q -w net.ipv4.ip_forward=1
  # Pod-to-Service traffic across the bridge must pass iptables.
  if [ "$(nsenter --net="$NETNS_PATH" cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null)" != 1 ]; then
    nsenter --net="$NETNS_PATH" sysctl -q -w net.bridge.bridge-nf-call-iptables=1 ||
      die "bridge-nf-call-iptables is off and cannot be set (modprobe br_netfilter)"
  fi

  # The mount namespace, owned by a `sleep infinity` in the network namespace.
  mkdir -p "$PID_DIR"
  setsid nsenter --net="$NETNS_PATH" -- unshare --mount --propagation private -- sleep infinity \
    >/dev/null 2>&1 </dev/null 8>&- &
  echo $! >"$PID_DIR/nsholder"
  local self_mnt i
  self_mnt="$(readlink /proc/self/ns/mnt)"
  for ((i = 0; i < 200; i++)); do
    local h
    h="$(holder_pid)"
    if [ -n "$h" ] && [ "$(readlink "/proc/$h/ns/mnt" 2>/dev/null)" != "$self_mnt" ] &&
      [ "$(cat "/proc/$h/comm" 2>/dev/null)" = sleep ]; then break; fi
    sleep 0.05
  done
  [ -n "$(holder_pid)" ] || die "the namespace holder did not start"

  # Inside it: a private /run; /var/lib and /var/log as overlays whose upper
  # layers are in CLUSTER_DIR (the CNI plugins' cache goes to /var/lib/cni
  # and pod logs to /var/log/pods whatever one configures); the kubelet's
  # kernel settings as plain files.
  local ov="$CLUSTER_DIR/overlay" d f
  for d in var-lib var-log; do mkdir -p "$ov/$d/upper" "$ov/$d/work"; done
  in_cluster mount -t tmpfs -o mode=0755 "$E2E_NAME-run" /run
  in_cluster mkdir -p "$RUN_DIR"
  in_cluster mount -t overlay "$E2E_NAME-var-lib" -o "lowerdir=/var/lib,upperdir=$ov/var-lib/upper,workdir=$ov/var-lib/work" /var/lib
  in_cluster mount -t overlay "$E2E_NAME-var-log" -o "lowerdir=/var/log,upperdir=$ov/var-log/upper,workdir=$ov/var-log/work" /var/log
  mkdir -p "$CLUSTER_DIR/sysctl"
  for f in "${KUBELET_SYSCTLS[@]}"; do
    cat "/proc/sys/$f" >"$CLUSTER_DIR/sysctl/${f//\//.}"
    in_cluster mount --bind "$CLUSTER_DIR/sysctl/${f//\//.}" "/proc/sys/$f"
  done

  # A cgroup parent in every hierarchy for the pods (kubelet's cgroupRoot).
  local t
  while read -r t; do
    mkdir -p "$t$CGROUP_PARENT"
    if [ -f "$t/cpuset.cpus" ]; then
      cat "$t/cpuset.cpus" >"$t$CGROUP_PARENT/cpuset.cpus"
      cat "$t/cpuset.mems" >"$t$CGROUP_PARENT/cpuset.mems"
    fi
  done < <(findmnt -rn -t cgroup,cgroup2 -o TARGET)
}

# --- up / down / status -----------------------------------------------------------
healthy() {
  local c
  [ -n "$(holder_pid)" ] || return 1
  for c in "${COMPONENTS[@]}"; do [ -n "$(pid_alive "$c")" ] || return 1; done
  kc get --raw /readyz >/dev/null 2>&1 || return 1
  [ "$(kc get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

up() {
  refuse_foreign_netns up
  if [ -e "$NETNS_PATH" ] || [ -d "$CLUSTER_DIR" ]; then
    if healthy; then
      log "the cluster is up already (KUBECONFIG=$KUBECONFIG_PATH)"
      return 0
    fi
    log "a previous cluster is there but not healthy: tearing it down first"
    down_all
  fi
  mkdir -p "$LOG_DIR"
  find "$LOG_DIR" -mindepth 1 -delete
  : >"$LOG_DIR/phases.txt"
  local t0
  t0=$(now)
  # From here on, anything that fails or interrupts `up` (errexit, die,
  # Ctrl-C) ends the script through the EXIT trap, which removes what it made.
  UP_DONE=0
  trap on_exit_up EXIT
  trap 'log "interrupted"; exit 130' INT TERM HUP
  phase prereqs prereqs
  phase images images
  phase namespaces namespaces
  phase pki make_pki
  phase containerd start_containerd
  phase etcd start_etcd
  phase kube-apiserver start_apiserver
  phase controllers start_controllers
  phase kubelet start_kubelet
  phase kube-proxy start_kube_proxy
  phase coredns start_coredns
  UP_DONE=1
  trap - EXIT INT TERM HUP
  printf '%-20s %8ss\n' "up (total)" "$(elapsed "$t0")" >>"$LOG_DIR/phases.txt"
  log "cluster up in $(elapsed "$t0")s: node $NODE_NAME ($NODE_IP), KUBECONFIG=$KUBECONFIG_PATH"
  log "run commands in it with: scripts/e2e.sh exec kubectl get pods -A"
}

on_exit_up() {
  local rc=$?
  trap - EXIT INT TERM HUP
  [ "${UP_DONE:-0}" = 1 ] && return 0
  if [ -n "$CURRENT_PHASE" ]; then
    log "phase $CURRENT_PHASE FAILED after $(elapsed "$PHASE_T0")s"
    printf '%-20s %8ss FAILED\n' "$CURRENT_PHASE" "$(elapsed "$PHASE_T0")" >>"$LOG_DIR/phases.txt"
  fi
  if [ -n "${KVRING_E2E_KEEP_ON_FAILURE:-}" ]; then
    log "up failed; KVRING_E2E_KEEP_ON_FAILURE is set: the cluster is left as it is (scripts/e2e.sh down removes it)"
    exit $((rc == 0 ? 1 : rc))
  fi
  log "up failed: tearing down what was started (logs stay in $LOG_DIR)"
  down_all || true
  exit $((rc == 0 ? 1 : rc))
}

status() {
  local c pid ok=0
  if [ ! -e "$NETNS_PATH" ] && [ ! -d "$CLUSTER_DIR" ]; then
    echo "no cluster (scripts/e2e.sh up)"
    return 3
  fi
  local where=missing
  if netns_foreign; then where="$NETNS (made by another checkout)"; elif [ -e "$NETNS_PATH" ]; then where="$NETNS"; fi
  printf '%-24s %s\n' "network namespace" "$where"
  printf '%-24s %s\n' "namespace holder" "$(holder_pid || true)"
  for c in "${COMPONENTS[@]}"; do
    pid="$(pid_alive "$c")"
    [ -n "$pid" ] || ok=1
    printf '%-24s %s\n' "$c" "${pid:-not running}"
  done
  if [ -n "$(holder_pid)" ] && kc get --raw /readyz >/dev/null 2>&1; then
    kc get nodes -o wide || true
    kc get pods -A -o wide || true
  else
    echo "API server: not answering"
    ok=1
  fi
  healthy || ok=1
  return $ok
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  up | down)
    # One up or down at a time (two terminals, CI and a person).
    mkdir -p "$(dirname "$STATE_DIR")"
    exec 8>"$STATE_DIR.lock"
    if ! flock -n 8; then
      log "another up/down holds $STATE_DIR.lock; waiting"
      flock 8
    fi
    if [ "$cmd" = up ]; then
      up
    else
      refuse_foreign_netns down
      down_all
    fi
    ;;
  status) status ;;
  exec)
    [ $# -gt 0 ] || die "usage: cluster.sh exec COMMAND [ARGS...]"
    h="$(holder_pid)"
    [ -n "$h" ] || die "no cluster is running (scripts/e2e.sh up)"
    # kubectl's discovery cache and helm's files go with the cluster, not
    # into the home directory.
    exec nsenter --net="$NETNS_PATH" --mount="/proc/$h/ns/mnt" --wd="$PWD" -- \
      env KUBECONFIG="$KUBECONFIG_PATH" KUBECACHEDIR="$CLUSTER_DIR/kubectl-cache" \
      HELM_CACHE_HOME="$CLUSTER_DIR/helm/cache" HELM_CONFIG_HOME="$CLUSTER_DIR/helm/config" \
      HELM_DATA_HOME="$CLUSTER_DIR/helm/data" CONTAINERD_ADDRESS="$CONTAINERD_SOCK" \
      CONTAINERD_NAMESPACE=k8s.io PATH="$BIN:$PATH" "$@"
    ;;
  import)
    # Images for the cluster, as `docker save` tarballs (ctr reads that format).
    [ $# -gt 0 ] || die "usage: cluster.sh import IMAGE.tar..."
    [ -n "$(pid_alive containerd)" ] || die "no cluster is running (scripts/e2e.sh up)"
    for tar in "$@"; do
      [ -f "$tar" ] || die "$tar: no such file"
      t=$(now)
      in_cluster ctr --address "$CONTAINERD_SOCK" -n k8s.io images import --no-unpack=false "$(realpath "$tar")" |
        sed 's/^/[e2e]   /' >&2
      log "imported $tar in $(elapsed "$t")s"
    done
    ;;
  kubeconfig) echo "$KUBECONFIG_PATH" ;;
  -h | --help | help | "")
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  *) die "unknown command '$cmd' (up, down, status, exec, import, kubeconfig)" ;;
esac
