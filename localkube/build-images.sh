#!/usr/bin/env bash
# Build the operator, router and simulator images from docker/*.Dockerfile with podman, where no
# Docker engine and no container registry are reachable:
#   - the Python base is localkube/build-base-image.sh's image, made from Debian packages;
#   - the uv stage is an image holding only /uv, the binary of the uv wheel from PyPI at the
#     version the Dockerfiles pin (the same one the Makefile installs);
#   - Python dependencies come from PyPI through uv.lock, exactly as on GitHub.
# Each image is tagged with a digest of its Dockerfile, .dockerignore, bases and build context,
# so an unchanged tree reuses the image and a changed one rebuilds only the layers after the change.
#
#   localkube/build-images.sh [operator router sim]   build what is missing, then print one
#                                                     "<name> <image reference>" line per image
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cache_root="${GPTOSS_CACHE:-$HOME/.cache/gptoss}"
podman=("$here/gptoss-podman")
keep=3  # image tags kept per repository (other work trees on the machine share the store)
names=("$@")
((${#names[@]})) || names=(operator router sim)

log() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

bash "$here/install-podman.sh" >/dev/null
base="$(bash "$here/build-base-image.sh" | tail -n 1)"

# The uv image: /uv from the uv wheel at the Dockerfiles' pinned version.
uv_version="$(sed -n 's/^ARG UV_VERSION=//p' "$repo/docker/operator.Dockerfile")"
uv_image="localhost/gptoss-uv:$uv_version"
if ! "${podman[@]}" image exists "$uv_image"; then
  uv_dir="$cache_root/uv-$uv_version"
  if [[ ! -x "$uv_dir/bin/uv" ]]; then
    log "installing uv $uv_version from PyPI into $uv_dir"
    python3.11 -m venv "$uv_dir"
    "$uv_dir/bin/pip" install --quiet --disable-pip-version-check "uv==$uv_version"
  fi
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  install -m 0755 "$uv_dir/bin/uv" "$work/uv"
  tar --numeric-owner --owner=0 --group=0 -C "$work" -cf "$work/uv.tar" uv
  "${podman[@]}" import --quiet --message "uv $uv_version from the PyPI wheel" "$work/uv.tar" "$uv_image" >/dev/null
  log "imported $uv_image"
fi

# What the build context holds (the .dockerignore files all allow the same paths).
context_digest() {
  (
    cd "$repo"
    find pyproject.toml uv.lock README.md operator router simulators vllmspec localkube/gptoss_localkube \
      -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  ) | sha256sum | cut -c1-12
}
context="$(context_digest)"

# Lets uv in the build stage reach PyPI through this machine's TLS-inspecting proxy, if any: the
# host's CA bundle is mounted over the base's (which SSL_CERT_FILE names) for the RUN steps only,
# so it is in no layer.
trust=()
for bundle in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
  if [[ -f "$bundle" ]]; then
    trust=(--volume "$bundle:/etc/ssl/certs/ca-certificates.crt:ro")
    break
  fi
done

mkdir -p "$cache_root/images"
for name in "${names[@]}"; do
  dockerfile="$repo/docker/$name.Dockerfile"
  [[ -f "$dockerfile" ]] || { log "no Dockerfile for '$name' (docker/$name.Dockerfile)"; exit 1; }
  digest="$(cat "$dockerfile" "$dockerfile.dockerignore" <(echo "$base $uv_image $context") | sha256sum | cut -c1-12)"
  image="localhost/gptoss-$name:$digest"
  if ! "${podman[@]}" image exists "$image"; then
    exec 9>"$cache_root/images/build-$name.lock"
    flock 9
    if ! "${podman[@]}" image exists "$image"; then
      log "building $image (docker/$name.Dockerfile on $base)"
      start=$SECONDS
      "${podman[@]}" build --quiet --network host --layers \
        --ulimit nofile=1024:1024 --ulimit nproc=1000:1000 "${trust[@]}" \
        --build-arg "PYTHON_IMAGE=$base" --build-arg "UV_IMAGE=$uv_image" \
        --file "$dockerfile" --tag "$image" "$repo" >"$cache_root/images/build-$name.log" 2>&1 \
        || { tail -n 40 "$cache_root/images/build-$name.log" >&2; exit 1; }
      log "built $image in $((SECONDS - start))s"
      # Keep the newest few tags of this repository; older ones only hold disk.
      "${podman[@]}" images --noheading --sort created --format '{{.Repository}}:{{.Tag}}' "localhost/gptoss-$name" \
        | tail -n +$((keep + 1)) | xargs -r "${podman[@]}" rmi --force >/dev/null 2>&1 || true
    fi
    exec 9>&-
  fi
  echo "$name $image"
done
# Build-stage layers no tag uses any more, once a day old (recent ones are the layer cache).
"${podman[@]}" image prune --force --filter until=24h >/dev/null 2>&1 || true
