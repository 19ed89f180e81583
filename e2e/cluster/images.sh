# The images the local cluster itself needs, made without Docker or a
# registry (sourced by cluster.sh):
#   pause    the pod sandbox (pause.c, compiled statically)
#   busybox  Debian's busybox-static with its applets: a shell, nslookup,
#            wget, httpd for the cluster's own tests
#   coredns  the CoreDNS binary scripts/k8s/build.sh made (static)
#   prometheus  Debian's prometheus (the package promtool comes from), for
#            the monitoring scenario: the binary and the two libc files it
#            links (it is a cgo build), nothing else
# Each is a `docker save`-format tarball (what `ctr image import` reads),
# cached in $STATE_DIR/images under a hash of everything that goes in.
# shellcheck shell=bash

IMAGE_DIR="$STATE_DIR/images"

# image_tar OUT REF ROOTFS ENTRYPOINT_JSON CMD_JSON [CREATED_BY]: one layer,
# one config, reproducible (scripts/lib/image-tar.sh).
# shellcheck source=../../scripts/lib/image-tar.sh
source "$cluster_lib_dir/../../scripts/lib/image-tar.sh"

# cached_image NAME KEY_INPUT BUILD_FUNCTION: prints the tarball, building it
# with BUILD_FUNCTION OUT ROOTFS_WORKDIR when its key is new.
cached_image() {
  local name="$1" key out work
  key="$(printf '%s' "$2" | sha256sum | cut -c1-16)"
  out="$IMAGE_DIR/$name-$key.tar"
  if [ ! -f "$out" ]; then
    work="$(mktemp -d "$IMAGE_DIR/.rootfs-XXXXXX")"
    "$3" "$out" "$work" || {
      rm -rf "$work"
      return 1
    }
    rm -rf "$work"
    find "$IMAGE_DIR" -maxdepth 1 -name "$name-*.tar" ! -name "$(basename "$out")" -delete
    log "  image $name built: $(du -h "$out" | cut -f1)"
  fi
  echo "$out"
}

build_pause() { # out work
  command -v gcc >/dev/null || die "gcc is needed to build the pause image (apt-get install gcc libc6-dev)"
  mkdir -p "$2/rootfs"
  gcc -Os -s -static -Wall -Wextra -o "$2/rootfs/pause" "$cluster_lib_dir/pause.c" ||
    die "could not compile pause.c statically (is libc6-dev installed?)"
  image_tar "$1" "$PAUSE_IMAGE" "$2/rootfs" '["/pause"]' 'null'
}

# A Debian package's .deb, fetched once with apt-get download (kept in the
# state folder, so later clusters need no apt at all).
debian_deb() { # package
  local dir="$STATE_DIR/debs" deb
  mkdir -p "$dir"
  deb="$(find "$dir" -maxdepth 1 -name "$1_*.deb" | head -1)"
  if [ -z "$deb" ]; then
    log "  fetching Debian's $1 .deb with apt-get download"
    (cd "$dir" && apt-get download -q "$1" >/dev/null 2>&1) ||
      (cd "$dir" && apt-get update -q >/dev/null && apt-get download -q "$1" >/dev/null) ||
      die "apt-get download $1 failed"
    deb="$(find "$dir" -maxdepth 1 -name "$1_*.deb" | head -1)"
  fi
  echo "$deb"
}

# Debian's statically linked busybox.
busybox_deb() { debian_deb busybox-static; }

# The same busybox for the scripts themselves (nslookup in the namespace).
host_busybox() {
  local b="$STATE_DIR/bin/busybox" work
  if [ ! -x "$b" ]; then
    mkdir -p "$STATE_DIR/bin"
    work="$(mktemp -d "$STATE_DIR/bin/.deb-XXXXXX")"
    dpkg-deb -x "$(busybox_deb)" "$work"
    install -m 0755 "$work/bin/busybox" "$b"
    rm -rf "$work"
  fi
  echo "$b"
}

build_busybox() { # out work
  local root="$2/rootfs" applet
  mkdir -p "$2/deb" "$root"/{bin,etc,tmp,root,proc,sys,dev,var/www}
  chmod 1777 "$root/tmp"
  dpkg-deb -x "$(busybox_deb)" "$2/deb"
  install -m 0755 "$2/deb/bin/busybox" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  image_tar "$1" "$BUSYBOX_IMAGE" "$root" 'null' '["sh"]'
}

build_coredns() { # out work
  mkdir -p "$2/rootfs/etc"
  install -m 0755 "$BIN/coredns" "$2/rootfs/coredns"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$2/rootfs/etc/passwd"
  image_tar "$1" "$(coredns_image)" "$2/rootfs" '["/coredns"]' 'null'
}

# Debian's prometheus (the package promtool comes from).
prometheus_deb() { debian_deb prometheus; }

build_prometheus() { # out work
  local root="$2/rootfs" lib
  mkdir -p "$2/deb" "$root"/{bin,etc,tmp,prometheus,lib64,lib/x86_64-linux-gnu}
  chmod 1777 "$root/tmp"
  dpkg-deb -x "$(prometheus_deb)" "$2/deb"
  install -m 0755 "$2/deb/usr/bin/prometheus" "$root/bin/prometheus"
  # The same Debian release's libc as the package was built against (this machine's).
  for lib in /lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2; do
    cp -L "$lib" "$root$lib"
  done
  printf 'root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/prometheus:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  image_tar "$1" "$PROMETHEUS_IMAGE" "$root" '["/bin/prometheus"]' 'null'
}

coredns_image() {
  # shellcheck source=../../scripts/k8s/versions.env
  (source "$REPO/scripts/k8s/versions.env" && echo "$COREDNS_IMAGE_REPO:$COREDNS_VERSION")
}

# The tarballs, one per line: pause, busybox, coredns, prometheus.
build_cluster_images() {
  mkdir -p "$IMAGE_DIR"
  local recipe deb
  recipe="$(declare -f image_tar)"
  deb="$(busybox_deb)"
  cached_image pause "$recipe|$(declare -f build_pause)|$(cat "$cluster_lib_dir/pause.c")|$PAUSE_IMAGE|$(gcc --version 2>/dev/null | head -1)" build_pause
  cached_image busybox "$recipe|$(declare -f build_busybox)|$BUSYBOX_IMAGE|$(basename "$deb")" build_busybox
  cached_image coredns "$recipe|$(declare -f build_coredns)|$(coredns_image)|$(sha256sum "$BIN/coredns" | cut -d' ' -f1)" build_coredns
  deb="$(prometheus_deb)"
  cached_image prometheus "$recipe|$(declare -f build_prometheus)|$PROMETHEUS_IMAGE|$(basename "$deb")|$(sha256sum /lib/x86_64-linux-gnu/libc.so.6 | cut -d' ' -f1)" build_prometheus
}
