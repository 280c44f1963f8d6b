"""``gptoss-operator``: run the operator against the cluster of the pod or of a kubeconfig.

gptoss-operator [--namespace NS ...] [--kubeconfig PATH] [--liveness URL]
                [--metrics-port PORT] [--verbose]

With ``GPTOSS_OPERATOR_LEADER_ELECTION_LEASE`` set, several replicas may run: each stands by
until it holds that Lease, and only the holder runs the operator (``gptoss_operator.leading``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.metadata
import logging
import os
import socket
import sys
import uuid
from typing import Any, NoReturn

import kopf
from prometheus_client import CollectorRegistry, start_http_server

from gptoss_operator.handlers import build_registry
from gptoss_operator.kube.client import connect
from gptoss_operator.leading.elector import Elector, run_elected
from gptoss_operator.leading.lease import Timing
from gptoss_operator.metrics import OperatorMetrics
from gptoss_operator.settings import OperatorSettings

LOST_LEASE_EXIT = 3  # the pod restarts and stands by


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Identified(kopf.ConnectionInfo):
    """Kopf's connection with this replica's name in its user agent (Kopf keeps a User-Agent
    header it is given and adds ``kopf/<version>`` only when there is none)."""

    user_agent: str = ""

    def as_http_headers(self) -> dict[str, str]:
        return {**super().as_http_headers(), "User-Agent": self.user_agent}


def _identified(info: kopf.ConnectionInfo | None, identity: str) -> kopf.ConnectionInfo | None:
    if info is None:
        return None
    fields = {f.name: getattr(info, f.name) for f in dataclasses.fields(info)}
    agent = f"kopf/{importlib.metadata.version('kopf')} gptoss-operator ({identity})"
    return _Identified(**fields, user_agent=agent)


def _lost() -> NoReturn:
    logging.getLogger("gptoss_operator.leading").error("exiting: another replica may lead now")
    logging.shutdown()
    os._exit(LOST_LEASE_EXIT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gptoss-operator", description=__doc__)
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        help="watch only this namespace (repeatable); default: all namespaces",
    )
    parser.add_argument("--kubeconfig", help="use this kubeconfig instead of in-cluster config")
    parser.add_argument(
        "--liveness",
        default=None,
        help="serve a liveness endpoint, e.g. http://0.0.0.0:8080/healthz",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on this port (all addresses), standing by or leading",
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    settings = OperatorSettings()
    identity = settings.leader_election_identity or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    kube = connect(args.kubeconfig, identity=identity)
    metrics = OperatorMetrics(CollectorRegistry())
    if args.metrics_port is not None:
        start_http_server(args.metrics_port, registry=metrics.registry)
    registry = build_registry(settings, kube, namespaces=tuple(args.namespace), metrics=metrics)

    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # read by Kopf's kubeconfig login below

    @kopf.on.login(registry=registry)
    def _login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        """The pod's service account in a cluster, else the kubeconfig (as ``kube`` does)."""
        if not args.kubeconfig:
            in_cluster = kopf.login_with_service_account(**kwargs)
            if in_cluster is not None:
                return _identified(in_cluster, identity)
        return _identified(kopf.login_with_kubeconfig(**kwargs), identity)

    kopf.configure(verbose=args.verbose)

    async def operate() -> None:
        metrics.leader.set(1)
        await kopf.operator(
            registry=registry,
            standalone=True,
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            liveness_endpoint=args.liveness,
        )

    if not settings.leader_election_lease:
        asyncio.run(operate())
        return 0
    assert settings.leader_election_namespace is not None  # checked by OperatorSettings
    elector = Elector(
        kube,
        settings.leader_election_namespace,
        settings.leader_election_lease,
        identity,
        Timing(
            settings.leader_election_lease_seconds,
            settings.leader_election_renew_deadline_seconds,
            settings.leader_election_retry_seconds,
        ),
    )
    logger = logging.getLogger("gptoss_operator.leading")
    try:
        asyncio.run(
            run_elected(elector, operate, liveness=args.liveness, on_lost=_lost, logger=logger)
        )
    finally:
        elector.release()  # the loop and its threads are done: no write of ours can follow
    return 0


if __name__ == "__main__":
    sys.exit(main())
