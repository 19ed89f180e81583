#!/usr/bin/env bash
# Builds the node of an older commit, for the mixed-version tests (old and
# new node processes in one cluster), and prints the directory that holds it
# (its node/dist/main.js is the program):
#
#   scripts/old-version/build.sh [COMMIT]     default: the upgrade baseline below
#
# Cached in .cache/versions/<full commit>/ (git-ignored): the second call
# prints the path at once. Cold, it costs about 10 s: the sources come from
# `git archive` (no worktree is registered in the shared repository), the
# npm packages are hard links of this checkout's node_modules when the
# commit's package-lock.json is the same (else `npm ci` in the snapshot,
# minutes), the protobuf code is generated with buf as `npm run gen` does,
# and the packages the node needs are compiled with swc, the transform jest
# already runs every source through (tsc -b of the same packages took 59 s
# on a loaded 2-core machine; type errors of an old commit are its own past).
set -euo pipefail

# The commit issue 15 starts from (no release tag yet): the "old version" of
# the rolling-upgrade tests. Change it to the last release tag once there is one.
BASELINE=90a4854

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib/common.sh
source "$repo/scripts/lib/common.sh" old-version

ref="${1:-$BASELINE}"
commit="$(git -C "$repo" rev-parse --verify --quiet "$ref^{commit}")" ||
  die "commit $ref is not in this clone's history (a shallow clone? git fetch --unshallow)"
root="$repo/.cache/versions"
dir="$root/$commit"
mkdir -p "$root"

# One build per commit at a time (two test workers may ask at once).
exec 9>"$root/.lock"
flock 9
if [ -f "$dir/.built" ]; then
  echo "$dir"
  exit 0
fi

t0="$(now)"
tmp="$root/.tmp-$commit"
rm -rf "$tmp" "$dir"
mkdir -p "$tmp"
git -C "$repo" archive "$commit" | tar -x -C "$tmp"

if git -C "$repo" show "$commit:package-lock.json" | cmp -s - "$repo/package-lock.json" &&
  [ -d "$repo/node_modules" ]; then
  # Same dependencies: hard links (a second on one filesystem). The
  # workspace links (node_modules/@kvring/* -> ../../client, ...) are
  # relative, so in the copy they name the old commit's packages.
  cp -al "$repo/node_modules" "$tmp/node_modules"
  for ws in "$repo"/*/node_modules "$repo"/test/*/node_modules; do
    [ -d "$ws" ] || continue
    rel="${ws#"$repo"/}"
    [ -d "$tmp/$(dirname "$rel")" ] && cp -al "$ws" "$tmp/$rel"
  done
else
  log "package-lock.json differs at $commit: npm ci in the snapshot (slow)"
  (cd "$tmp" && npm ci --no-audit --no-fund --ignore-scripts >&2)
fi

(cd "$tmp" && npm run --silent gen >&2)
node "$here/compile.mjs" "$tmp" client format node >&2
mv "$tmp" "$dir"
touch "$dir/.built"
log "built the node of $commit in $(elapsed "$t0") s: $dir"
echo "$dir"
