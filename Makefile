# gptoss developer entry points. Everything installs itself from nothing:
#   make demo     the whole system on its embedded default (ARGS=--keep keeps it running)
#   make test     lint, type checks, import contracts and every test (the cluster ones included)
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION := 0.13.9
CACHE ?= $(HOME)/.cache/gptoss
UV_DIR := $(CACHE)/uv-$(UV_VERSION)
UV := $(UV_DIR)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help
help:
	@grep -E '^[a-z-]+:.*## ' Makefile | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(UV_DIR)
	$(UV_DIR)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON) --quiet
	touch $@

.PHONY: venv
venv: $(VENV)/.synced ## create .venv with the project and its dev tools (from uv.lock)

.PHONY: toolchain
toolchain: ## build etcd/kube-*/kwok from Go modules, install kubectl+helm, Debian's redis-server and podman (cached in ~/.cache/gptoss)
	bash localkube/build.sh >/dev/null
	bash localkube/install-kube-tools.sh >/dev/null
	bash localkube/install-redis.sh >/dev/null
	bash localkube/install-podman.sh >/dev/null

.PHONY: lint
lint: venv ## ruff, mypy --strict, import-linter
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

.PHONY: test
test: venv toolchain lint ## everything: lint, unit tests, tests against the local control plane
	$(VENV)/bin/pytest

.PHONY: demo
demo: venv toolchain ## the whole system on its embedded default (ARGS=--keep keeps it running)
	$(VENV)/bin/gptoss-demo $(ARGS)

.PHONY: cluster
cluster: venv toolchain ## a local cluster to poke by hand; prints its kubeconfig; Ctrl-C stops it
	$(VENV)/bin/gptoss-localkube up

.PHONY: crds
crds: ## copy crds/ into the chart (a test fails when they drift)
	cp crds/*.yaml charts/gptoss/crds/

.PHONY: chart
chart: venv toolchain ## helm lint, render and install tests of charts/gptoss
	$$(bash localkube/install-kube-tools.sh)/helm lint --strict charts/gptoss
	$(VENV)/bin/pytest -q tests/chart

.PHONY: images
images: $(UV) ## build the operator, router and simulator images with podman on a Debian-made base (no Docker engine, no registry)
	nice -n 10 bash localkube/build-images.sh

.PHONY: bench-cluster
bench-cluster: venv toolchain ## cold build time, warm start time and memory of the control plane
	$(VENV)/bin/python bench/cluster_start.py

.PHONY: bench-autoscaler
bench-autoscaler: venv toolchain ## queue spike -> /scale write, and the replicas trace
	$(VENV)/bin/python bench/autoscaler_reaction.py

.PHONY: bench-gateway
bench-gateway: venv ## gptoss vs LiteLLM's proxy vs direct, pinned cores, 1..256 concurrent
	$(VENV)/bin/python bench/gateway_vs_litellm.py

.PHONY: bench-memory
bench-memory: venv ## router RSS over a long run (1 M requests by default)
	$(VENV)/bin/python bench/router_memory.py

.PHONY: bench-operator
bench-operator: venv toolchain ## 500 GptOssDeployments: time to settle, writes and CPU per resync
	$(VENV)/bin/python bench/operator_scale.py --profile

.PHONY: bench-economics
bench-economics: venv ## cost policy vs baselines and the hindsight optimum over demand traces (table and plot)
	$(VENV)/bin/python bench/economics.py

.PHONY: clean
clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
