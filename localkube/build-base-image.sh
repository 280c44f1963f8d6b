#!/usr/bin/env bash
# Make the local base image of the gptoss images from Debian packages, with no registry: a
# minimal Debian root file system made by debootstrap, with Debian's Python 3.11 (the same minor
# version as the usual base, python:3.11-slim-bookworm) and ca-certificates, upgraded from the
# suite's updates and security archives, then imported into gptoss's podman store.
#
#   localkube/build-base-image.sh     build if needed, then print the image reference (last line)
#
# The image is keyed by the suite, the package list, this script and the candidate versions apt
# reports for the packages (so a Debian security update makes a new base). The root file system
# tarball is cached under $GPTOSS_CACHE/images/ (default ~/.cache/gptoss/images/), so a wiped
# podman store is refilled in seconds. Like python:3.11-slim, the image has python3.11 and python
# in /usr/local/bin (symlinks to Debian's /usr/bin/python3.11). SSL_CERT_FILE names the system CA
# bundle, so that uv (which otherwise trusts only its bundled roots) trusts what the system does:
# build-images.sh mounts the machine's bundle there for the RUN steps, for a TLS-inspecting proxy.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${GPTOSS_CACHE:-$HOME/.cache/gptoss}"
suite="${GPTOSS_DEBIAN_SUITE:-bookworm}"
mirror="${GPTOSS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security_mirror="${GPTOSS_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
packages=(python3.11 ca-certificates)
keyed=(python3.11 python3.11-minimal libpython3.11-stdlib libc6 libssl3 ca-certificates tzdata)
podman=("$here/gptoss-podman")

log() { printf '[base image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

versions="$(apt-cache policy "${keyed[@]}" 2>/dev/null | awk '/^[^ ]/ {p=$1} /Candidate:/ {print p, $2}')"
digest="$(printf '%s\n%s\n%s\n' "$suite ${packages[*]}" "$versions" "$(cat "${BASH_SOURCE[0]}")" | sha256sum | cut -c1-12)"
image="localhost/gptoss-base:$suite-$digest"
dir="$cache_root/images/base-$suite-$digest"
tarball="$dir/rootfs.tar"

if "${podman[@]}" image exists "$image" 2>/dev/null; then
  echo "$image"
  exit 0
fi

mkdir -p "$cache_root/images"
exec 9>"$cache_root/images/base.lock"
flock 9

if [[ ! -f "$dir/.complete" ]]; then
  for tool in debootstrap chroot tar; do
    command -v "$tool" >/dev/null || { log "$tool is required; run localkube/install-podman.sh"; exit 1; }
  done
  [[ "$(id -u)" == 0 ]] || { log "debootstrap needs root"; exit 1; }
  rm -rf "$dir.partial"
  mkdir -p "$dir.partial"
  root="$dir.partial/rootfs"
  start=$SECONDS
  log "debootstrap $suite (minbase + ${packages[*]}) from $mirror"
  debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
    "$suite" "$root" "$mirror" >"$dir.partial/debootstrap.log" 2>&1 \
    || { tail -n 30 "$dir.partial/debootstrap.log" >&2; exit 1; }
  cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
SOURCES
  log "upgrading from $suite-updates and $suite-security"
  {
    chroot "$root" apt-get update -q
    DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -y -q -o Dpkg::Options::=--force-confold upgrade
    chroot "$root" apt-get clean
  } >"$dir.partial/upgrade.log" 2>&1 || { tail -n 30 "$dir.partial/upgrade.log" >&2; exit 1; }
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
  ln -sf /usr/bin/python3.11 "$root/usr/local/bin/python3.11"
  ln -sf python3.11 "$root/usr/local/bin/python3"
  ln -sf python3.11 "$root/usr/local/bin/python"
  # shellcheck disable=SC2016  # dpkg-query's own format fields
  chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' >"$dir.partial/packages.txt"
  "$root/usr/bin/python3.11" --version >/dev/null 2>&1 || chroot "$root" python3.11 --version >&2
  tar --numeric-owner -C "$root" -cf "$dir.partial/rootfs.tar" .
  rm -rf "$root"
  printf '%s\n' "$versions" >"$dir.partial/keyed-versions.txt"
  touch "$dir.partial/.complete"
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
  log "root file system built in $((SECONDS - start))s: $(du -h "$tarball" | cut -f1), $(wc -l <"$dir/packages.txt") packages"
  # Keep this base and the one before it (another work tree may still use it).
  find "$cache_root/images" -maxdepth 1 -name "base-$suite-*" ! -name '*.partial' -printf '%T@ %p\n' \
    | sort -rn | tail -n +3 | cut -d' ' -f2- | xargs -r rm -rf
fi

"${podman[@]}" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["python3"]' \
  --message "Debian $suite minbase + ${packages[*]} (gptoss local base)" \
  --quiet "$tarball" "$image" >/dev/null
log "imported $image"
echo "$image"
