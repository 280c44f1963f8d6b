#!/usr/bin/env bash
# shellcheck disable=SC2016  # $2 and $3 in single quotes are awk's fields
# The release version, read from its one home, charts/gptoss/Chart.yaml `version`, after checking
# that everything that repeats it agrees: the chart's appVersion (the default tag of the images
# the chart pulls), the Python package version in pyproject.toml, and the git tag being released.
#
#   .github/release/version.sh [TAG]     print the version (e.g. 0.2.0), or name what disagrees
#
# TAG is the pushed tag, e.g. v0.2.0 (GITHUB_REF_NAME in the release workflow). To release:
# set the three to the new version, merge, then push the tag `v<version>`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tag="${1:-}"

field() { # field <file> <awk program printing the value>
  awk "$2" "$1" | head -n 1 | tr -d '"'"'"
}
version="$(field "$repo/charts/gptoss/Chart.yaml" '/^version:/ {print $2}')"
app_version="$(field "$repo/charts/gptoss/Chart.yaml" '/^appVersion:/ {print $2}')"
python_version="$(field "$repo/pyproject.toml" '/^\[project\]/ {p=1; next} /^\[/ {p=0} p && /^version *=/ {print $3}')"

semver='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$'
status=0
fail() { echo "::error::$*" >&2; status=1; }
[[ "$version" =~ $semver ]] || fail "charts/gptoss/Chart.yaml version '$version' is not a semantic version (X.Y.Z)"
[[ "$app_version" == "$version" ]] \
  || fail "charts/gptoss/Chart.yaml appVersion '$app_version' differs from its version '$version' (the images are tagged with the version)"
[[ "$python_version" == "$version" ]] \
  || fail "pyproject.toml version '$python_version' differs from charts/gptoss/Chart.yaml version '$version'"
if [[ -n "$tag" && "$tag" != "v$version" ]]; then
  fail "tag '$tag' does not name charts/gptoss/Chart.yaml version '$version' (expected v$version)"
fi
((status == 0)) || exit "$status"
echo "$version"
