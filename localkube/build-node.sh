#!/usr/bin/env bash
# Build what a real node of the local cluster runs beside the KWOK GPU nodes: the kubelet and
# kube-proxy from the same pinned Kubernetes module as the control plane (localkube/go/node adds
# only the go.sum entries those two commands need), and CoreDNS (localkube/go/coredns: the
# plugins the cluster's Corefile uses). Installs Debian's containerd, runc, CNI plugins,
# iptables and catatonit (the pause process) when one is missing. Cached outside the work tree,
# keyed by the pinned versions and a hash of the modules and this script.
#
#   localkube/build-node.sh       build if needed, then print the cache directory (last line)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
gomod="$here/go"
cache_root="${GPTOSS_CACHE:-$HOME/.cache/gptoss}"
log() { printf '[localkube node %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

pin() { # pin <go.mod> <module> -> version required by that go.mod
  awk -v m="$2" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$1"
}
k8s_version="$(pin "$gomod/node/go.mod" k8s.io/kubernetes)"
coredns_version="$(pin "$gomod/coredns/go.mod" github.com/coredns/coredns)"
[[ "$k8s_version" == "$(pin "$gomod/k8s/go.mod" k8s.io/kubernetes)" ]] \
  || { log "localkube/go/node pins Kubernetes $k8s_version, the control plane another"; exit 1; }

packages=(containerd runc containernetworking-plugins iptables catatonit)
commands=(containerd ctr runc iptables catatonit)
installed() {
  local c
  for c in "${commands[@]}"; do command -v "$c" >/dev/null || return 1; done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]]
}
if ! installed; then
  command -v apt-get >/dev/null || { log "apt-get is required to install ${packages[*]}"; exit 1; }
  [[ "$(id -u)" == 0 ]] || { log "installing ${packages[*]} needs root"; exit 1; }
  mkdir -p "$cache_root"
  exec 9>"$cache_root/node-packages.lock"
  flock 9
  if ! installed; then
    log "installing ${packages[*]} from the Debian archive"
    export DEBIAN_FRONTEND=noninteractive
    apt_log="$(mktemp)"
    if ! apt-get install -y -q --no-install-recommends "${packages[@]}" >"$apt_log" 2>&1; then
      apt-get update -q >"$apt_log" 2>&1 || { cat "$apt_log" >&2; exit 1; }
      apt-get install -y -q --no-install-recommends "${packages[@]}" >"$apt_log" 2>&1 \
        || { cat "$apt_log" >&2; exit 1; }
    fi
    rm -f "$apt_log"
    installed || { log "apt-get succeeded but one of ${commands[*]} is still missing"; exit 1; }
  fi
  exec 9>&-
fi

digest="$(cat "$gomod"/node/go.* "$gomod"/coredns/go.* "$gomod"/coredns/*.go "$here/build-node.sh" | sha256sum | cut -c1-12)"
out="$cache_root/localkube/node-k8s-${k8s_version}_coredns-${coredns_version}_${digest}"
if [[ -f "$out/.complete" ]]; then
  echo "$out"
  exit 0
fi
command -v go >/dev/null || { log "go is required (Go >= 1.26) and was not found on PATH"; exit 1; }
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false -mod=readonly"
mkdir -p "$out.partial/bin"
start=$SECONDS

major="$(echo "${k8s_version#v}" | cut -d. -f1)"; minor="$(echo "${k8s_version#v}" | cut -d. -f2)"
stamp="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
log "kubelet and kube-proxy $k8s_version: compiling (minutes the first time)"
(cd "$gomod/node" && go mod download && go build -ldflags "$stamp" -o "$out.partial/bin/" \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
log "coredns $coredns_version: compiling"
(cd "$gomod/coredns" && go mod download && go build -ldflags "-s -w" -o "$out.partial/bin/coredns" .)

"$out.partial/bin/kubelet" --version >&2
printf '%ss\n' "$((SECONDS - start))" > "$out.partial/build-time"
touch "$out.partial/.complete"
rm -rf "$out"
mv "$out.partial" "$out"
log "built in $((SECONDS - start))s into $out"
echo "$out"
