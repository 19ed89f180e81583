# Taking the local cluster down and leaving the machine as it was found
# (sourced by cluster.sh). Safe to run at any point of a failed `up`, twice,
# or with nothing there. Only processes proven to be the cluster's are
# signalled: those in its network or mount namespace, and those in its cgroup
# parent (the pods' processes, which live in network namespaces of their own).
# shellcheck shell=bash

# ours PID: the process is in the cluster's network namespace, or in its
# mount namespace (while the holder is alive to compare with). Builtins only
# (-ef compares the namespaces' inodes): teardown asks this of every process.
ours() {
  { [ -e "$NETNS_PATH" ] && [ "/proc/$1/ns/net" -ef "$NETNS_PATH" ]; } ||
    { [ -n "$DOWN_MNT_REF" ] && [ -e "$DOWN_MNT_REF" ] && [ "/proc/$1/ns/mnt" -ef "$DOWN_MNT_REF" ]; }
}

# stop_daemon NAME [GRACE_SECONDS [quiet]]: SIGTERM, then SIGKILL after the grace.
stop_daemon() {
  local name="$1" grace="${2:-3}" quiet="${3:-}" pid i
  pid="$(cat "$PID_DIR/$name" 2>/dev/null || true)"
  if [ -n "$pid" ] && running "$pid" && ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      running "$pid" || break
      sleep 0.1
    done
    if running "$pid"; then
      [ -n "$quiet" ] || log "  $name did not stop within ${grace}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$PID_DIR/$name"
}

cgroup_dirs() {
  local t
  while read -r t; do
    [ -d "$t$CGROUP_PARENT" ] && echo "$t$CGROUP_PARENT"
  done < <(findmnt -rn -t cgroup,cgroup2 -o TARGET)
  return 0
}

# Every process of every pod: they are all below the kubelet's cgroupRoot.
kill_pod_processes() {
  local i pids
  for ((i = 0; i < 50; i++)); do
    pids="$(cgroup_dirs | while read -r d; do find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null; done | sort -u)"
    [ -z "$pids" ] && return 0
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.2
  done
  log "  warning: pod processes still alive: $pids"
}

kill_namespace_processes() {
  local i p left
  for ((i = 0; i < 25; i++)); do
    left=""
    for p in /proc/[0-9]*; do
      p="${p#/proc/}"
      [ "$p" = $$ ] && continue
      if running "$p" && ours "$p"; then
        left="$left $p"
        kill -KILL "$p" 2>/dev/null || true
      fi
    done
    [ -z "$left" ] && return 0
    sleep 0.2
  done
  log "  warning: processes still in the cluster's namespaces:$left"
}

remove_cgroups() {
  local d i
  for ((i = 0; i < 25; i++)); do
    while read -r d; do
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done < <(cgroup_dirs)
    [ -z "$(cgroup_dirs)" ] && return 0
    sleep 0.2
  done
  log "  warning: cgroups left: $(cgroup_dirs | tr '\n' ' ')"
}

# What the cluster looked like, for debugging a failed run.
snapshot_cluster() {
  [ -n "$(holder_pid)" ] && [ -n "$(pid_alive kube-apiserver)" ] || return 0
  kc get --raw /readyz >/dev/null 2>&1 || return 0
  {
    echo "# kubectl get nodes,all -A -o wide"
    kc --request-timeout=10s get nodes,all -A -o wide 2>&1 || true
    echo
    echo "# kubectl get events -A"
    kc --request-timeout=10s get events -A --sort-by=.lastTimestamp 2>&1 || true
  } >"$LOG_DIR/cluster-state.txt"
}

down_all() {
  local t0 c
  t0=$(now)
  mkdir -p "$LOG_DIR"
  if [ ! -e "$NETNS_PATH" ] && [ ! -d "$CLUSTER_DIR" ] && [ -z "$(cgroup_dirs)" ]; then
    log "no cluster to take down"
    return 0
  fi
  DOWN_MNT_REF=""
  local h
  h="$(holder_pid)"
  [ -z "$h" ] || DOWN_MNT_REF="/proc/$h/ns/mnt"
  snapshot_cluster
  # The node first (no restarts of what is killed next), then the control plane.
  for c in kube-proxy kubelet kube-scheduler kube-controller-manager; do stop_daemon "$c"; done
  # Its graceful shutdown waits on things that do not matter for a cluster
  # about to be deleted: a second, then SIGKILL.
  stop_daemon kube-apiserver 1 quiet
  stop_daemon etcd
  kill_pod_processes
  stop_daemon containerd
  # Everything else in the namespaces: shims, the holder, stragglers.
  kill_namespace_processes
  rm -f "$PID_DIR/nsholder"
  remove_cgroups
  # Pod logs (container stdout/stderr) for debugging, from the /var/log overlay.
  if [ -d "$CLUSTER_DIR/overlay/var-log/upper/pods" ]; then
    rm -rf "$LOG_DIR/pods"
    cp -r "$CLUSTER_DIR/overlay/var-log/upper/pods" "$LOG_DIR/pods" 2>/dev/null || true
  fi
  # The network namespace takes the bridge, veths and iptables rules with it.
  if [ -e "$NETNS_PATH" ]; then ip netns del "$NETNS" 2>/dev/null || log "  warning: ip netns del $NETNS failed"; fi
  # Nothing is mounted there any more: the mount namespace died with its
  # last process.
  if [ -d "$CLUSTER_DIR" ]; then rm -rf --one-file-system "$CLUSTER_DIR"; fi
  printf '%-20s %8ss\n' "down" "$(elapsed "$t0")" >>"$LOG_DIR/phases.txt"
  log "cluster down in $(elapsed "$t0")s (logs in $LOG_DIR)"
}
