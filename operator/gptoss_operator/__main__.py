"""``gptoss-operator``: run the operator against the cluster of the pod or of a kubeconfig.

gptoss-operator [--namespace NS ...] [--kubeconfig PATH] [--liveness URL] [--verbose]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

import kopf

from gptoss_operator.handlers import build_registry
from gptoss_operator.kube import connect
from gptoss_operator.settings import OperatorSettings


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
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    settings = OperatorSettings()
    kube = connect(args.kubeconfig)
    registry = build_registry(settings, kube, namespaces=tuple(args.namespace))

    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # read by Kopf's kubeconfig login below

    @kopf.on.login(registry=registry)
    def _login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        """The pod's service account in a cluster, else the kubeconfig (as ``kube`` does)."""
        if not args.kubeconfig:
            in_cluster = kopf.login_with_service_account(**kwargs)
            if in_cluster is not None:
                return in_cluster
        return kopf.login_with_kubeconfig(**kwargs)

    kopf.configure(verbose=args.verbose)
    asyncio.run(
        kopf.operator(
            registry=registry,
            standalone=True,
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            liveness_endpoint=args.liveness,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
