# image_tar OUT REF ROOTFS ENTRYPOINT_JSON CMD_JSON [CREATED_BY]: a one-layer
# image from a folder, as a `docker save` tarball (what `ctr images import`
# and `kind load image-archive` read), made without Docker. Both the layer and
# the outer tarball are reproducible (sorted, root-owned, mtime 0): the same
# folder makes the same image ID and the same file, byte for byte.
# Sourced by e2e/cluster/images.sh and scripts/chaos-mesh/build.sh.
# shellcheck shell=bash

image_tar() {
  local out="$1" ref="$2" rootfs="$3" entrypoint="$4" cmd="$5" by="${6:-kvring}" work diff cfg
  local reproducible=(--sort=name --numeric-owner --owner=0 --group=0 --mtime=@0)
  work="$(mktemp -d "$(dirname "$out")/.work-XXXXXX")"
  tar "${reproducible[@]}" -C "$rootfs" -cf "$work/layer.tar" .
  diff="$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
  mkdir "$work/$diff"
  mv "$work/layer.tar" "$work/$diff/layer.tar"
  cat >"$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"Entrypoint":$entrypoint,"Cmd":$cmd,"WorkingDir":"/",
   "Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff"]},
 "history":[{"created":"1970-01-01T00:00:00Z","created_by":"$by"}]}
JSON
  cfg="$(sha256sum "$work/config.json" | cut -d' ' -f1)"
  mv "$work/config.json" "$work/$cfg.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' "$cfg" "$ref" "$diff" >"$work/manifest.json"
  tar "${reproducible[@]}" -C "$work" -cf "$out.tmp" manifest.json "$cfg.json" "$diff"
  mv -f "$out.tmp" "$out"
  rm -rf "$work"
}
