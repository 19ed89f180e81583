#!/usr/bin/env bash
# Debian's redis-server for `make bench` (the Redis 7 it compares kvring
# with), installed on first use. The bench starts its own redis-server on
# loopback with a temporary directory; the packaged service is stopped.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh" bench
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
install_packages redis-server
# The package may start its own service on install; the bench runs its own.
if [ -x /etc/init.d/redis-server ]; then /etc/init.d/redis-server stop >/dev/null 2>&1 || true; fi
