#!/usr/bin/env bash
# Runs shellcheck over every shell script of the repository (`make lint`).
# Scripts are found by their shebang (sh, bash, dash), wherever they are and
# whatever their name (.ci/run, ./kvring); the files they source (libraries
# without a shebang: scripts/lib/, scripts/image/lib.sh, e2e/cluster/*.sh)
# are checked through them (-x, with .shellcheckrc's source-path=SCRIPTDIR),
# where their variables and functions are seen in use.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

command -v shellcheck >/dev/null || {
  echo "[lint-shell] shellcheck is not installed (bash scripts/ensure-system-deps.sh installs it)" >&2
  exit 1
}

scripts=()
while IFS= read -r -d '' f; do
  if head -n 1 "$f" | grep -qE '^#!.*[/ ](ba|da)?sh([[:space:]]|$)'; then scripts+=("$f"); fi
done < <(find . \( -name node_modules -o -name .git -o -name .cache -o -name dist -o -path ./e2e/logs \) -prune \
  -o -type f -print0 | sort -z)

[ ${#scripts[@]} -gt 0 ] || {
  echo "[lint-shell] no shell scripts found" >&2
  exit 1
}
shellcheck -x "${scripts[@]}"
echo "[lint-shell] shellcheck: ${#scripts[@]} scripts (and what they source) clean" >&2
