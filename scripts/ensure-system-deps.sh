#!/usr/bin/env bash
# System tools the tests rely on, installed from Debian's packages when
# missing (this project's machines run as root; elsewhere, install them with
# your package manager). Quiet when everything is present.
set -euo pipefail
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || need+=(python3-venv) # the Python quickstart's virtual environment
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "missing system packages: ${need[*]} (install them, e.g. apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts prometheus as a service on install; the tests run their own.
(command -v systemctl >/dev/null && systemctl stop prometheus 2>/dev/null) || true
pkill -x prometheus 2>/dev/null || true
