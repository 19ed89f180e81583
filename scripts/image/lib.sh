# Shared by the scripts in scripts/image/ (sourced, not run).
# Paths: everything lives under .cache/image/ (git-ignored) so reruns reuse it.
# shellcheck shell=bash

image_lib_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$image_lib_dir/../.." && pwd)"
IMAGE_CACHE="${KVRING_IMAGE_CACHE:-$REPO/.cache/image}"
# The version the images are tagged with: the chart's appVersion and the
# operator's default node image (kvring/node:<version>) must agree with it.
IMAGE_VERSION="${KVRING_IMAGE_VERSION:-$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$REPO/package.json" | head -1)}"
IMAGE_REPO_PREFIX="${KVRING_IMAGE_PREFIX:-kvring}"

# log, die, now, elapsed: messages tagged [image] on stderr.
# shellcheck source=../lib/common.sh
source "$image_lib_dir/../lib/common.sh" image

# The Debian mirror apt is configured with (deb822 or one-line format), so
# debootstrap fetches from where this machine's apt already does.
debian_mirror() {
  if [ -n "${KVRING_DEBIAN_MIRROR:-}" ]; then
    echo "$KVRING_DEBIAN_MIRROR"
    return
  fi
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1 == "deb" && $3 !~ /security/ && $0 ~ /debian/ { print $2; exit }' /etc/apt/sources.list)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

# The Docker client: Debian's (matches its dockerd 20.10) before any other.
docker_cli() {
  if [ -n "${KVRING_DOCKER_CLI:-}" ]; then
    echo "$KVRING_DOCKER_CLI"
  elif [ -x /usr/bin/docker ]; then
    echo /usr/bin/docker
  else
    command -v docker || true
  fi
}

sha_of() { sha256sum | cut -c1-16; }

# The image tag of a base tarball made by base.sh: kvring-base/<flavor>:<key>.
base_tag() {
  local name
  name="$(basename "$1" .tar)"
  echo "kvring-base/${name%%-*}:${name#*-}"
}

# Documentation, translations, package caches and host files: nothing a
# container reads.
slim_rootfs() {
  local root="$1"
  rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
    "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/etc/resolv.conf "$root"/etc/hostname
}
