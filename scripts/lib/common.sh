# Logging and timing shared by the repository's shell scripts (sourced, not
# run). The argument is the tag every message carries:
#   source "$repo/scripts/lib/common.sh" faults
#   log MSG...   "[faults] MSG" on stderr (stdout is left to values a caller captures)
#   die MSG...   "[faults] error: MSG" on stderr, then exit 1
#   now          a timestamp for elapsed
#   elapsed T0   seconds since T0 with one decimal ("12.3") and no unit: the
#                phase tables print it in a column of their own
# shellcheck shell=bash

LOG_TAG="${1:?usage: source scripts/lib/common.sh TAG}"

log() { echo "[$LOG_TAG] $*" >&2; }
die() {
  log "error: $*"
  exit 1
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
