#!/usr/bin/env bash
# Prepares the Python quickstart: a virtual environment with requirements.txt
# (.cache/venv-quickstart-<hash>, made once) and the client API's stubs
# generated from proto/ with grpc_tools.protoc (never committed). Prints the
# environment's python.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# Keyed by the requirements and the interpreter: a change of either makes a new one.
key=$( (cat "$here/requirements.txt"; python3 -VV) | sha256sum | cut -c1-12)
venv=$root/.cache/venv-quickstart-$key
py=$venv/bin/python

if [ ! -f "$venv/.installed" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$py" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  touch "$venv/.installed"
fi

rm -rf "$here/gen"
mkdir -p "$here/gen"
"$py" -m grpc_tools.protoc -I "$root/proto" --python_out="$here/gen" --pyi_out="$here/gen" \
  --grpc_python_out="$here/gen" kvring/v1/kvring.proto
echo "$py"
