#!/usr/bin/env bash
# Builds the node image of an older commit for the e2e rolling-upgrade
# scenario (e2e/test/scenarios/upgrade.ts), tagged kvring/node:base-<short
# commit>, saved to .cache/image/out/kvring-images-base-<short>.tar, where
# scripts/e2e.sh picks every saved archive up and imports it into the
# cluster. Prints the archive's path; a second call finds it and does nothing.
#
#   scripts/old-version/image.sh [COMMIT]     default: build.sh's baseline
#
# The commit's own image build runs in its source snapshot (build.sh), with
# the same image cache and engine as `make image` (KVRING_IMAGE_CACHE): run
# it under the e2e lock like any image build (COMMON rules of this workplace).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib/common.sh
source "$repo/scripts/lib/common.sh" old-version

snapshot="$(bash "$here/build.sh" "$@")"
short="$(basename "$snapshot" | cut -c1-7)"
version="base-$short"
out="$repo/.cache/image/out"
archive="$out/kvring-images-$version.tar"
if [ -f "$archive" ]; then
  echo "$archive"
  exit 0
fi
mkdir -p "$out"
t0="$(now)"
# The snapshot's image cache would otherwise be its own (a second base image
# build): share this checkout's unless the caller named one.
KVRING_IMAGE_CACHE="${KVRING_IMAGE_CACHE:-$repo/.cache/image}" KVRING_IMAGE_VERSION="$version" \
  bash "$snapshot/scripts/image/build.sh" node --save "$out" >&2
[ -f "$archive" ] || die "the image build of $short saved no $archive"
log "node image kvring/node:$version of $short in $(elapsed "$t0") s: $archive"
echo "$archive"
