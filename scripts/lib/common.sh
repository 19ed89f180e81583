# Logging and timing shared by the repository's shell scripts (sourced, not
# run). The argument is the tag every message carries:
#   source "$repo/scripts/lib/common.sh" faults
#   log MSG...   "[faults] MSG" on stderr (stdout is left to values a caller captures)
#   die MSG...   "[faults] error: MSG" on stderr, then exit 1
#   now          a timestamp for elapsed
#   elapsed T0   seconds since T0 with one decimal ("12.3") and no unit: the
#                phase tables print it in a column of their own
#   install_packages PKG...
#                installs Debian packages with apt-get (quiet; as root only:
#                elsewhere it says which to install and fails)
# shellcheck shell=bash

LOG_TAG="${1:?usage: source scripts/lib/common.sh TAG}"

log() { echo "[$LOG_TAG] $*" >&2; }
die() {
  log "error: $*"
  exit 1
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

install_packages() {
  [ $# -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "missing system packages: $* (install them, e.g. apt-get install $*)"
    return 1
  fi
  log "installing system packages: $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
