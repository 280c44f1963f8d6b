#!/usr/bin/env bash
# Install what building and running the gptoss images needs without a Docker engine: Debian's
# podman, runc (the OCI runtime used here: crun refuses a hybrid cgroup v1/v2 host with "cgroups in
# hybrid mode not supported"), the CNI plugins podman's network stack depends on, and debootstrap
# with Debian's archive keyring (the base image is made from Debian packages, see
# build-base-image.sh; Ubuntu lacks the keyring). apt-get checks every package against the signed
# archive index. Nothing happens when all of them are already installed.
#
#   localkube/install-podman.sh     install if needed, then print the podman path (last line)
set -euo pipefail

packages=(podman runc containernetworking-plugins debootstrap debian-archive-keyring)
commands=(podman runc debootstrap)
cache_root="${GPTOSS_CACHE:-$HOME/.cache/gptoss}"

installed() {
  local c
  for c in "${commands[@]}"; do command -v "$c" >/dev/null || return 1; done
  [[ -x /usr/lib/cni/bridge && -f /usr/share/keyrings/debian-archive-keyring.gpg ]]
}

if installed; then
  command -v podman
  exit 0
fi

log() { printf '[podman] %s\n' "$*" >&2; }
command -v apt-get >/dev/null || { log "apt-get is required (a Debian-based machine is) to install ${packages[*]}"; exit 1; }
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null; then sudo=(sudo -n); else
    log "installing ${packages[*]} needs root (or passwordless sudo)"; exit 1
  fi
else
  sudo=()
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/podman.lock"
flock 9
if installed; then  # another run installed them while this one waited
  command -v podman
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt_install() {
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}" >"$work/apt.log" 2>&1
}
log "installing ${packages[*]} from the Debian archive"
if ! apt_install; then
  log "apt-get install failed; refreshing the package lists (apt-get update)"
  "${sudo[@]}" apt-get update -q >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; exit 1; }
  apt_install || { cat "$work/apt.log" >&2; exit 1; }
fi
installed || { log "apt-get succeeded but one of ${commands[*]} is still missing"; exit 1; }
log "$(podman --version), $(runc --version | head -n 1)"
command -v podman
