#!/usr/bin/env bash
# Makes a Debian bookworm root filesystem to `docker import` as a base image,
# without any registry, and caches it (the images build FROM it offline):
#
#   scripts/image/base.sh node       minbase + this machine's Node 20 (node and
#                                    npm in /usr/local, laid out as in the
#                                    public node:20-bookworm-slim image)
#   scripts/image/base.sh postgres   minbase + Debian's PostgreSQL 15 (server
#                                    binaries in /usr/lib/postgresql/15/bin, as
#                                    in the public postgres:15-bookworm image)
#
# Prints the tarball's path. Cached as .cache/image/base/<flavor>-<key>.tar,
# the key a hash of everything that goes in (this script, the suite, the
# mirror, the Node binary and npm version), so a rerun takes no time and a
# new Node binary makes a new base. `base_tag` (lib.sh) names its image.
# Needs root (debootstrap, chroot); downloads .debs from the Debian mirror apt
# is configured with (cached in .cache/image/debs).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- inner: runs in a mount namespace of its own, so /proc mounted into the
# chroot disappears with it whatever happens ---------------------------------
if [ "${1:-}" = --inner ]; then
  flavor="$2" work="$3" minbase="$4"
  root="$work/rootfs"
  mkdir -p "$root"
  # Both flavors start from one minbase tarball (debootstrap is the slow part).
  tar --numeric-owner -C "$root" -xf "$minbase"
  mount -t proc proc "$root/proc"
  mount --bind /dev "$root/dev"
  case "$flavor" in
    node)
      node_bin="$(readlink -f "$(command -v node)")"
      npm_dir="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"
      install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
      mkdir -p "$root/usr/local/lib/node_modules"
      cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
      ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
      ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
      # The libraries Node links against must all be in minbase.
      env -u NODE_EXTRA_CA_CERTS chroot "$root" /usr/local/bin/node -e 'process.stdout.write(process.version)' >"$work/node-version" ||
        die "the copied Node binary does not run inside the bookworm rootfs"
      log "  node $(cat "$work/node-version") and npm $(env -u NODE_EXTRA_CA_CERTS chroot "$root" /usr/local/bin/node /usr/local/bin/npm --version 2>/dev/null) added"
      ;;
    postgres)
      t=$(now)
      cp /etc/resolv.conf "$root/etc/resolv.conf"
      # No service may start inside the chroot, and the package must not
      # create a cluster of its own: the image's entrypoint runs initdb.
      printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
      chmod 0755 "$root/usr/sbin/policy-rc.d"
      mkdir -p "$root/etc/postgresql-common"
      echo 'create_main_cluster = false' >"$root/etc/postgresql-common/createcluster.conf"
      {
        chroot "$root" apt-get update -qq &&
          DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --no-install-recommends postgresql-15
      } >"$work/apt.log" 2>&1 || {
        tail -30 "$work/apt.log" >&2
        die "apt-get install postgresql-15 in the chroot failed (log above)"
      }
      cp "$root"/var/cache/apt/archives/*.deb "$IMAGE_CACHE/debs/" 2>/dev/null || true
      rm -f "$root/usr/sbin/policy-rc.d"
      [ -x "$root/usr/lib/postgresql/15/bin/postgres" ] || die "postgresql-15 installed no server binary"
      log "  postgresql-15 installed: $(elapsed "$t")s"
      ;;
  esac
  umount "$root/proc" "$root/dev"
  slim_rootfs "$root"
  tar --numeric-owner -C "$root" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf "$work/rootfs.tar" .
  exit 0
fi

# --- outer --------------------------------------------------------------------
flavor="${1:-}"
case "$flavor" in
  node | postgres) ;;
  *) die "usage: base.sh node|postgres" ;;
esac
# Comments do not change what is built.
minbase="$("$image_lib_dir/minbase.sh")"
key_input="$(grep -v '^[[:space:]]*#' "$0")|$(declare -f slim_rootfs)|$flavor|$(basename "$minbase")"
if [ "$flavor" = node ]; then
  command -v node >/dev/null || die "node is not installed on this machine: the node base copies it"
  major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" = 20 ] || die "the node base wants Node 20 on this machine (found $(node --version))"
  key_input+="|$(sha256sum "$(readlink -f "$(command -v node)")" | cut -d' ' -f1)|npm $(npm --version 2>/dev/null)"
fi
key="$(printf '%s' "$key_input" | sha_of)"
out_dir="$IMAGE_CACHE/base"
out="$out_dir/$flavor-$key.tar"
if [ -f "$out" ]; then
  log "base $flavor: cached $out"
  echo "$out"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "building the $flavor base needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
mkdir -p "$out_dir"
exec 8>"$out_dir/.lock"
flock 8
if [ -f "$out" ]; then
  echo "$out"
  exit 0
fi
t0=$(now)
work="$(mktemp -d "$out_dir/.work-XXXXXX")"
# --one-file-system: never descend into something still mounted in there.
trap 'rm -rf --one-file-system "$work"' EXIT
unshare --mount --propagation private -- bash "$0" --inner "$flavor" "$work" "$minbase"
mv "$work/rootfs.tar" "$out"
# Older bases of this flavor are superseded.
find "$out_dir" -maxdepth 1 -name "$flavor-*.tar" ! -name "$(basename "$out")" -delete
log "base $flavor: $(du -h "$out" | cut -f1) in $(elapsed "$t0")s"
echo "$out"
