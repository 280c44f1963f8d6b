#!/usr/bin/env bash
# Install a real Redis server for the router's shared-state tests: Debian's redis-server and
# redis-tools packages (the server binary ships in redis-tools as redis-check-rdb; redis-server is
# a symlink to it) and the libraries they need that the machine lacks (liblzf1, libjemalloc2, and
# any other that ldd reports missing), fetched with `apt-get download` (apt checks them against
# the signed archive index) and unpacked with `dpkg -x` into a cache directory keyed by version.
# Nothing is installed system-wide. bin/redis-server and bin/redis-cli are small wrappers that put
# the unpacked libraries on LD_LIBRARY_PATH and exec the binaries (the PID stays the server's).
#
#   localkube/install-redis.sh     install if needed, then print the redis-server path (last line)
set -euo pipefail

cache_root="${GPTOSS_CACHE:-$HOME/.cache/gptoss}"
min_major=7

newest_cached() {
  local found=()
  shopt -s nullglob
  found=("$cache_root"/redis-*/.complete)
  shopt -u nullglob
  ((${#found[@]})) || return 1
  printf '%s\n' "${found[@]%/.complete}" | sort -V | tail -n 1
}

if dir="$(newest_cached)"; then
  echo "$dir/bin/redis-server"
  exit 0
fi

log() { printf '[redis] %s\n' "$*" >&2; }
for tool in apt-get dpkg-deb ldd flock; do
  command -v "$tool" >/dev/null || { log "$tool is required and was not found (a Debian-based machine is)"; exit 1; }
done

mkdir -p "$cache_root"
exec 9>"$cache_root/redis.lock"
flock 9
if dir="$(newest_cached)"; then  # another run installed it while this one waited
  echo "$dir/bin/redis-server"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/debs"

download() {  # apt-get download PACKAGE...; refreshes the package lists once if that fails
  if ! (cd "$work/debs" && apt-get download -q -o APT::Sandbox::User=root "$@" >"$work/apt.log" 2>&1); then
    log "apt-get download $* failed; refreshing the package lists (apt-get update)"
    apt-get update -q >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; exit 1; }
    (cd "$work/debs" && apt-get download -q -o APT::Sandbox::User=root "$@" >"$work/apt.log" 2>&1) \
      || { cat "$work/apt.log" >&2; exit 1; }
  fi
}

log "fetching redis-server from the Debian archive"
download redis-server redis-tools liblzf1 libjemalloc2
deb_version="$(dpkg-deb -f "$work"/debs/redis-tools_*.deb Version)"
version="${deb_version#*:}"         # 5:7.0.15-1~deb12u10 -> 7.0.15-1~deb12u10
out="$cache_root/redis-${version//\~/-}"  # redis-7.0.15-1-deb12u10
partial="$out.partial"
rm -rf "$partial"
mkdir -p "$partial/root" "$partial/bin"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$partial/root"; done

server="$partial/root/usr/bin/redis-server"
[[ -L "$server" && -x "$partial/root/usr/bin/redis-check-rdb" ]] \
  || { log "the packages did not hold usr/bin/redis-server -> redis-check-rdb"; exit 1; }
libdir="$(dirname "$(find "$partial/root" -name 'liblzf.so.1' | head -n 1)")"
ln -s "${libdir#"$partial/"}" "$partial/lib"

missing() { LD_LIBRARY_PATH="$partial/lib" ldd "$partial/root/usr/bin/redis-check-rdb" | awk '/not found/ {print $1}'; }
wanted=()
for soname in $(missing); do
  case "$soname" in
    libatomic.so.*) wanted+=(libatomic1) ;;
    libssl.so.3 | libcrypto.so.3) wanted+=(libssl3) ;;
    libsystemd.so.*) wanted+=(libsystemd0) ;;
    *) log "redis-server needs $soname, which no package here is known to provide"; exit 1 ;;
  esac
done
if ((${#wanted[@]})); then
  mapfile -t wanted < <(printf '%s\n' "${wanted[@]}" | sort -u)
  log "also fetching ${wanted[*]} (missing on this machine)"
  rm -f "$work"/debs/*.deb
  download "${wanted[@]}"
  for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$partial/root"; done
  [[ -z "$(missing)" ]] || { log "still missing libraries: $(missing | tr '\n' ' ')"; exit 1; }
fi

for name in redis-server redis-cli; do
  cat >"$partial/bin/$name" <<EOF
#!/bin/sh
# $name from Debian's redis $version, unpacked by localkube/install-redis.sh
here="\$(cd "\$(dirname "\$0")/.." && pwd)"
LD_LIBRARY_PATH="\$here/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
exec "\$here/root/usr/bin/$name" "\$@"
EOF
  chmod 0755 "$partial/bin/$name"
done

banner="$("$partial/bin/redis-server" --version)"  # Redis server v=7.0.15 sha=... malloc=jemalloc-5.3.0
major="$(sed -n 's/^Redis server v=\([0-9]*\)\..*/\1/p' <<<"$banner")"
[[ -n "$major" && "$major" -ge "$min_major" ]] \
  || { log "expected Redis $min_major or later, got: $banner"; exit 1; }
touch "$partial/.complete"
rm -rf "$out"
mv "$partial" "$out"
log "${banner%% sha=*} in $out"
echo "$out/bin/redis-server"
