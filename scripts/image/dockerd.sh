#!/usr/bin/env bash
# A private Docker engine (Debian's dockerd) for building and running the
# images where no Docker engine runs, without touching the machine's own:
#
#   scripts/image/dockerd.sh start STATE_DIR   start it; prints DOCKER_HOST=unix://...
#   scripts/image/dockerd.sh stop STATE_DIR    stop it and everything it started
#   scripts/image/dockerd.sh netns STATE_DIR   print the network namespace's path
#
# Everything is under STATE_DIR: data-root (images, layers, build cache; keep
# it between runs for speed), exec-root, socket, pid file and log. dockerd
# runs in a network namespace of its own (created here, joined with
# `nsenter --net=`, not `ip netns exec`, which remounts /sys and hides the
# cgroup mounts from runc) and in a mount namespace of its own, so its
# overlay mounts vanish with it. Containers are reachable only from inside
# that network namespace: `nsenter --net=$(dockerd.sh netns DIR) curl ...`.
# `stop` sends SIGTERM, waits, then kills whatever is still in the namespace
# (shims, containers), deletes the namespace and the exec-root. Both are
# idempotent; `stop` after a failed `start` cleans up too.
# Needs root, dockerd, containerd and runc (apt-get install docker.io).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd="${1:-}"
state="${2:-}"
[[ -n "$cmd" && -n "$state" ]] || die "usage: dockerd.sh start|stop|netns STATE_DIR"
mkdir -p "$state"
state="$(cd "$state" && pwd)"
# One namespace per state folder; names stay short (IFNAMSIZ-free, but tidy).
netns="kvring-dockerd-$(printf '%s' "$state" | sha_of | cut -c1-10)"
sock="$state/docker.sock"
pidfile="$state/engine.pid"
log="$state/dockerd.log"

running_pid() {
  local pid
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q dockerd "/proc/$pid/comm" 2>/dev/null && echo "$pid"
  return 0
}

case "$cmd" in
  netns)
    echo "/run/netns/$netns"
    ;;
  start)
    [ "$(id -u)" = 0 ] || die "a private dockerd needs root"
    for b in dockerd containerd runc; do
      command -v "$b" >/dev/null || die "$b is missing (apt-get install docker.io containerd runc)"
    done
    cli="$(docker_cli)"
    [ -n "$cli" ] || die "no docker client (apt-get install docker.io)"
    if [ -n "$(running_pid)" ] && "$cli" -H "unix://$sock" info >/dev/null 2>&1; then
      echo "DOCKER_HOST=unix://$sock"
      exit 0
    fi
    t0=$(now)
    [ -e "/run/netns/$netns" ] || ip netns add "$netns"
    ip -n "$netns" link set lo up
    mkdir -p "$state/root" "$state/exec"
    echo '{}' >"$state/daemon.json"
    rm -f "$sock"
    # setsid: the engine must not get the caller's terminal signals, nor
    # its lock files (fds 7-9: a lock would live as long as the engine). nice:
    # image builds and containers (its descendants) yield to other work on
    # the machine (KVRING_DOCKERD_NICE, default 19).
    setsid nice -n "${KVRING_DOCKERD_NICE:-19}" nsenter --net="/run/netns/$netns" -- \
      unshare --mount --propagation private -- \
      dockerd \
      --config-file "$state/daemon.json" \
      --data-root "$state/root" \
      --exec-root "$state/exec" \
      --pidfile "$state/dockerd.pid" \
      --host "unix://$sock" \
      --storage-driver overlay2 \
      --log-level warn \
      >"$log" 2>&1 </dev/null 7>&- 8>&- 9>&- &
    pid=$!
    echo "$pid" >"$pidfile"
    for _ in $(seq 1 300); do
      if ! kill -0 "$pid" 2>/dev/null; then
        tail -30 "$log" >&2
        "$0" stop "$state" || true
        die "dockerd exited during start-up (log above, $log)"
      fi
      if "$cli" -H "unix://$sock" info >/dev/null 2>&1; then
        log "dockerd $(dockerd --version | awk '{print $3}' | tr -d ,) up in $(elapsed "$t0")s (netns $netns, state $state)"
        echo "DOCKER_HOST=unix://$sock"
        exit 0
      fi
      sleep 0.2
    done
    tail -30 "$log" >&2
    "$0" stop "$state" || true
    die "dockerd did not answer within 60 s (log above)"
    ;;
  stop)
    pid="$(running_pid)"
    if [ -n "$pid" ]; then
      kill -TERM "$pid" 2>/dev/null || true
      # dockerd stops its containers (10 s grace each, in parallel) and containerd.
      for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
      if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    if [ -e "/run/netns/$netns" ]; then
      # Whatever is left in the namespace was started by this engine:
      # containerd, its shims, container processes.
      for _ in 1 2 3 4 5; do
        pids="$(ip netns pids "$netns" 2>/dev/null || true)"
        [ -z "$pids" ] && break
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        sleep 0.2
      done
      ip netns del "$netns" 2>/dev/null || true
    fi
    rm -f "$pidfile" "$state/dockerd.pid" "$sock"
    # The exec-root holds sockets and state of this run only; its mounts died
    # with the engine's mount namespace.
    rm -rf --one-file-system "$state/exec"
    ;;
  *) die "unknown command $cmd (start, stop or netns)" ;;
esac
