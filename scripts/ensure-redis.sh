#!/usr/bin/env bash
# Debian's redis-server for `make bench` (the Redis 7 it compares kvring
# with), installed on first use. The bench starts its own redis-server on
# loopback with a temporary directory; the packaged service is stopped.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "redis-server is missing (install it, e.g. apt-get install redis-server)" >&2
  exit 1
fi
echo "installing system package: redis-server" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# The package may start its own service on install; the bench runs its own.
if [ -x /etc/init.d/redis-server ]; then /etc/init.d/redis-server stop >/dev/null 2>&1 || true; fi
