# syntax=docker/dockerfile:1.7
# The gptoss operator image. Build from the repository root:
#   docker build -f docker/operator.Dockerfile -t gptoss-operator .
# Dependencies come from uv.lock (no resolution at build time); the runtime stage holds the
# virtual environment and Python only, and runs as an unprivileged user.
# Both bases are build arguments: localkube/build-images.sh builds on a base made from Debian
# packages and a uv image made from the uv wheel, where no registry is reachable.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_VERSION=0.13.9
ARG UV_IMAGE=ghcr.io/astral-sh/uv:${UV_VERSION}

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/gptoss
WORKDIR /src
# Third-party dependencies first: this layer is reused until uv.lock changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=/src/uv.lock \
    --mount=type=bind,source=pyproject.toml,target=/src/pyproject.toml \
    uv sync --frozen --no-dev --no-install-project
COPY pyproject.toml uv.lock README.md ./
COPY operator/ operator/
COPY router/ router/
COPY simulators/ simulators/
COPY vllmspec/ vllmspec/
COPY localkube/gptoss_localkube/ localkube/gptoss_localkube/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="gptoss-operator" \
      org.opencontainers.image.description="Kopf operator reconciling GptOssDeployments into vLLM workloads" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/gptoss /opt/gptoss
ENV PATH=/opt/gptoss/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The user has a name: a kubelet, unlike podman, adds no /etc/passwd entry, and Python's
# getpass.getuser() (kopf names its peering identity with it) fails for a uid it cannot find.
RUN echo 'gptoss:x:65532:65532:gptoss:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'gptoss:x:65532:' >> /etc/group
USER 65532:65532
ENTRYPOINT ["gptoss-operator"]
