#!/usr/bin/env bash
# The Debian packages a private image build needs (docker.io for dockerd and
# its client, containerd, runc, debootstrap, iproute2), installed when
# missing and running as root; quiet when all are there. Debian's
# policy-rc.d keeps the docker service from starting on install: the
# scripts start their own engine.
set -euo pipefail
# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh" image
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
[ ${#need[@]} -eq 0 ] && exit 0
install_packages "${need[@]}"
