#!/usr/bin/env bash
# A minimal Debian bookworm root filesystem (debootstrap --variant=minbase,
# without docs, translations or apt caches), the start of every base that
# base.sh makes. Prints the tarball's path; cached as
# .cache/image/base/minbase-<key>.tar, the key a hash of this recipe, the
# suite and the mirror (debootstrap is the slow part: about a minute).
# Needs root and debootstrap.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

suite=bookworm

if [ "${1:-}" = --inner ]; then
  # In a mount namespace of its own: what debootstrap mounts in the target
  # disappears with it.
  work="$2" mirror="$3"
  mkdir -p "$IMAGE_CACHE/debs"
  debootstrap --variant=minbase --cache-dir="$IMAGE_CACHE/debs" "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    {
      tail -30 "$work/debootstrap.log" >&2
      die "debootstrap $suite from $mirror failed (log above)"
    }
  slim_rootfs "$work/rootfs"
  tar --numeric-owner -C "$work/rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf "$work/minbase.tar" .
  exit 0
fi

mirror="$(debian_mirror)"
# Comments do not change what is built.
key="$(printf '%s' "$(grep -v '^[[:space:]]*#' "$0")|$(declare -f slim_rootfs)|$suite|$mirror" | sha_of)"
out_dir="$IMAGE_CACHE/base"
out="$out_dir/minbase-$key.tar"
if [ -f "$out" ]; then
  echo "$out"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
mkdir -p "$out_dir"
exec 8>"$out_dir/.minbase.lock"
flock 8
if [ -f "$out" ]; then
  echo "$out"
  exit 0
fi
t0=$(now)
log "minbase: debootstrap --variant=minbase $suite from $mirror (cached afterwards as $out)"
work="$(mktemp -d "$out_dir/.work-XXXXXX")"
# --one-file-system: never descend into something still mounted in there.
trap 'rm -rf --one-file-system "$work"' EXIT
unshare --mount --propagation private -- bash "$0" --inner "$work" "$mirror"
mv "$work/minbase.tar" "$out"
find "$out_dir" -maxdepth 1 -name 'minbase-*.tar' ! -name "$(basename "$out")" -delete
log "minbase: $(du -h "$out" | cut -f1) in $(elapsed "$t0")s"
echo "$out"
