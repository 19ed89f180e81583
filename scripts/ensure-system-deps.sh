#!/usr/bin/env bash
# System tools the tests rely on, installed from Debian's packages when
# missing (this project's machines run as root; elsewhere, install them with
# your package manager). Quiet when everything is present.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh" deps
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || need+=(python3-venv) # the Python quickstart's virtual environment
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
install_packages "${need[@]}"
# Debian starts prometheus as a service on install; the tests run their own.
(command -v systemctl >/dev/null && systemctl stop prometheus 2>/dev/null) || true
pkill -x prometheus 2>/dev/null || true
