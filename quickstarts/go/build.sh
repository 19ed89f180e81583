#!/usr/bin/env bash
# Builds the Go quickstart into .cache/quickstarts/go/kvring-quickstart (or $1):
# the protoc plugins at the versions go.mod pins as tools (installed once into
# .cache/go-tools/<versions>/bin), the client API's code from proto/ with the
# repository's buf (generated, never committed), then the program.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/.cache/quickstarts/go/kvring-quickstart}
buf=$root/node_modules/.bin/buf
[ -x "$buf" ] || { echo "buf is missing ($buf): run \`make deps\` first" >&2; exit 1; }
cd "$here"

versions=$(go list -m -f '{{.Version}}' google.golang.org/protobuf google.golang.org/grpc/cmd/protoc-gen-go-grpc | paste -sd+)
tools=$root/.cache/go-tools/$versions/bin
if [ ! -x "$tools/protoc-gen-go" ] || [ ! -x "$tools/protoc-gen-go-grpc" ]; then
  GOBIN=$tools go install tool
fi

rm -rf gen
PATH=$tools:$PATH "$buf" generate --template buf.gen.yaml "$root/proto" --path "$root/proto/kvring/v1/kvring.proto"
go build -buildvcs=false -o "$out" .
echo "$out"
