#!/usr/bin/env bash
# Build the two images a real node of the local cluster needs besides gptoss's own, where no
# registry is reachable, into gptoss's podman store (localkube/gptoss-podman):
#   pause  the pod sandbox: catatonit (Debian's, statically linked) in pause mode, as the
#          kubelet's registry.k8s.io/pause does;
#   store  Debian's redis-server for the chart's embedded store (localkube/images/store.Dockerfile
#          on localkube/build-base-image.sh's base).
# Tags are digests of their inputs; an unchanged input reuses the image.
#
#   localkube/build-node-images.sh     print "pause <ref>" and "store <ref>"
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${GPTOSS_CACHE:-$HOME/.cache/gptoss}"
podman=("$here/gptoss-podman")
log() { printf '[node images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

bash "$here/install-podman.sh" >/dev/null
command -v catatonit >/dev/null || { log "catatonit is missing: run localkube/build-node.sh"; exit 1; }

pause_digest="$( (sha256sum "$(command -v catatonit)"; cat "$0") | sha256sum | cut -c1-12)"
pause="localhost/gptoss-pause:$pause_digest"
if ! "${podman[@]}" image exists "$pause"; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  install -m 0755 "$(command -v catatonit)" "$work/pause"
  tar --numeric-owner --owner=0 --group=0 -C "$work" -cf "$work/pause.tar" pause
  "${podman[@]}" import --quiet --message "catatonit from Debian, in pause mode" \
    --change 'ENTRYPOINT ["/pause", "-P"]' --change 'USER 65535:65535' \
    "$work/pause.tar" "$pause" >/dev/null
  log "imported $pause"
fi
echo "pause $pause"

base="$(bash "$here/build-base-image.sh" | tail -n 1)"
dockerfile="$here/images/store.Dockerfile"
store="localhost/gptoss-store:$(cat "$dockerfile" <(echo "$base") | sha256sum | cut -c1-12)"
if ! "${podman[@]}" image exists "$store"; then
  mkdir -p "$cache_root/images"
  log "building $store (Debian's redis-server on $base)"
  empty="$(mktemp -d)"
  "${podman[@]}" build --quiet --network host --ulimit nofile=1024:1024 --ulimit nproc=1000:1000 \
    --build-arg "BASE_IMAGE=$base" --file "$dockerfile" --tag "$store" "$empty" \
    >"$cache_root/images/build-store.log" 2>&1 \
    || { tail -n 40 "$cache_root/images/build-store.log" >&2; exit 1; }
  rmdir "$empty"
fi
echo "store $store"
