# The embedded store for the local cluster's real node, where no registry is reachable: Debian's
# redis-server on the base made from Debian packages. It honours what the chart asks of the
# valkey/valkey and redis images: the server as entrypoint taking a config file, sh, cat, sed
# and redis-cli for the init container and the readiness probe. Releases use valkey/valkey.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/*
USER 65532:65532
ENTRYPOINT ["redis-server"]
