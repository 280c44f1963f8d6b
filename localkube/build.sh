#!/usr/bin/env bash
# Build the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)
# and KWOK from the pinned Go modules in localkube/go/, into a cache directory outside the work
# tree keyed by the pinned versions and a hash of the go.mod/go.sum files.
#
#   localkube/build.sh            build if needed, then print the cache directory (last line)
#
# The three wrapper modules stay separate so that Go's minimal version selection never mixes
# etcd's, Kubernetes' and KWOK's dependency pins. The KWOK stage files are copied from the
# module cache at the pinned version into <cache>/stages.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
gomod="$here/go"
cache_root="${GPTOSS_CACHE:-$HOME/.cache/gptoss}"

pin() { # pin <go.mod> <module> -> version required by that go.mod
  awk -v m="$2" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$1"
}
k8s_version="$(pin "$gomod/k8s/go.mod" k8s.io/kubernetes)"
etcd_version="$(pin "$gomod/etcd/go.mod" go.etcd.io/etcd/server/v3)"
kwok_version="$(pin "$gomod/kwok/go.mod" sigs.k8s.io/kwok)"
digest="$(cat "$gomod"/*/go.mod "$gomod"/*/go.sum "$here/build.sh" | sha256sum | cut -c1-12)"
out="$cache_root/localkube/k8s-${k8s_version}_etcd-${etcd_version}_kwok-${kwok_version}_${digest}"

if [[ -f "$out/.complete" ]]; then
  echo "$out"
  exit 0
fi

log() { printf '[localkube build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
command -v go >/dev/null || { log "go is required (Go >= 1.26) and was not found on PATH"; exit 1; }

export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false -mod=readonly"
mkdir -p "$out.partial/bin" "$out.partial/stages"
start=$SECONDS

build() { # build <module dir> <label> <ldflags> <output> <packages...>
  local dir="$1" label="$2" ldflags="$3" output="$4"; shift 4
  (
    cd "$dir"
    log "$label: downloading modules"
    go mod download
    local total
    total="$(go list -deps "$@" 2>/dev/null | wc -l || echo '?')"
    log "$label: compiling about $total packages (first build takes minutes; later builds hit the Go cache)"
    local n=0 t0=$SECONDS line
    go build -v -ldflags "$ldflags" -o "$output" "$@" 2>&1 | while IFS= read -r line; do
      case "$line" in
        \#*|*.go:[0-9]*) printf '%s\n' "$line" >&2 ;;
        *) n=$((n + 1))
           if (( n % 150 == 0 )); then log "$label: $n/$total packages compiled ($((SECONDS - t0))s)"; fi ;;
      esac
    done
    test "${PIPESTATUS[0]}" -eq 0
  )
}

stamp() { # ldflags that stamp a Kubernetes version like hack/lib/version.sh does
  local v="$1" major minor
  major="$(echo "${v#v}" | cut -d. -f1)"; minor="$(echo "${v#v}" | cut -d. -f2)"
  local flags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "-s -w$flags"
}

build "$gomod/etcd" "etcd $etcd_version" "-s -w" "$out.partial/bin/etcd" go.etcd.io/etcd/server/v3
build "$gomod/kwok" "kwok $kwok_version" "-s -w" "$out.partial/bin/kwok" sigs.k8s.io/kwok/cmd/kwok
build "$gomod/k8s" "kubernetes $k8s_version" "$(stamp "$k8s_version")" "$out.partial/bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler

kwok_dir="$(cd "$gomod/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
cp "$kwok_dir/kustomize/stage/node/fast/node-initialize.yaml" \
   "$kwok_dir/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
   "$kwok_dir/kustomize/stage/pod/fast/pod-complete.yaml" \
   "$kwok_dir/kustomize/stage/pod/fast/pod-delete.yaml" \
   "$out.partial/stages/"
chmod u+w "$out.partial/stages/"*

"$out.partial/bin/kube-apiserver" --version >&2
"$out.partial/bin/etcd" --version >&2
printf '%s\n' "$k8s_version" > "$out.partial/k8s-version"
printf '%ss (GOCACHE=%s)\n' "$((SECONDS - start))" "$(go env GOCACHE)" > "$out.partial/build-time"
touch "$out.partial/.complete"
rm -rf "$out"
mv "$out.partial" "$out"
log "built in $((SECONDS - start))s into $out"
echo "$out"
