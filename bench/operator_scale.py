"""The operator at fleet scale on the local control plane.

    .venv/bin/python bench/operator_scale.py [--crs 500] [--running 16] [--resync 15]
        [--resyncs 3] [--timeout 300]

Starts the local control plane (etcd, API server, controllers, KWOK with the catalog's fake GPU
nodes: 16 H100, 8 A100, 8 MI300X), applies the CRD, starts the operator process
(``python -m gptoss_operator --kubeconfig``, resync period ``--resync`` seconds through
GPTOSS_OPERATOR_RESYNC_SECONDS), then creates ``--crs`` GptOssDeployments at once (16 threads
POSTing to the API server): gpt-oss-20b on one H100 each, the first ``--running`` with
``replicas: 1`` (one per fake H100, so nothing waits for a GPU) and the rest with
``replicas: 0``. The catalog has 16 H100s, so more than 16 running replicas would measure the
scheduler's queue, not the operator.

Settled: a CR's ``status.observedGeneration`` equals its ``metadata.generation`` and its
``Ready`` condition says what its spec asks for: ``status: "True"`` for ``replicas: 1`` (a pod
is Running and Ready), ``reason: ScaledToZero`` for ``replicas: 0``. The time to settle runs
from the first POST until every CR is settled (polled every 0.5 s).

Steady state: after everything settled and one quiet resync period has passed, the benchmark
watches ``--resyncs`` resyncs of the operator (its log line "resync: N GptOssDeployments
checked") and counts, from the API server's audit log, every write (create, update, patch,
delete) the operator process made meanwhile (user agent ``gptoss-operator/...`` for its own
client, ``kopf/...`` for Kopf's), and the operator's CPU seconds (utime + stime from
/proc/PID/stat) over the same window. Prints a table; writes
bench/results/operator_scale.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.opscale.crs import NAMESPACE  # noqa: E402
from bench.opscale.measure import measure  # noqa: E402
from bench.opscale.report import report  # noqa: E402

from gptoss_localkube.cluster import LocalCluster  # noqa: E402
from gptoss_localkube.toolchain import ensure_toolchain  # noqa: E402

RESULT = REPO / "bench" / "results" / "operator_scale.json"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--crs", type=int, default=500)
    parser.add_argument("--running", type=int, default=16, help="CRs with replicas: 1")
    parser.add_argument("--resync", type=float, default=15.0, help="operator resync period, s")
    parser.add_argument("--resyncs", type=int, default=3, help="steady-state resyncs to watch")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up settling after")
    parser.add_argument(
        "--profile", action="store_true", help="sample the operator with py-spy during resyncs"
    )
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()

    toolchain = ensure_toolchain()
    result: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "crs": args.crs,
        "running": args.running,
        "resync_seconds": args.resync,
    }
    with (
        tempfile.TemporaryDirectory(prefix="opscale-") as work,
        LocalCluster(toolchain, pod_network=f"127.{2 + secrets.randbelow(249)}.0.0/16") as info,
    ):
        kubectl = [str(toolchain.kubectl), f"--kubeconfig={info.kubeconfig}"]
        subprocess.run([*kubectl, "apply", "--server-side", "-f", str(REPO / "crds")], check=True)
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Established", "crd/gptossdeployments.gptoss.dev"],
            check=True,
        )
        subprocess.run([*kubectl, "create", "namespace", NAMESPACE], check=True)
        log = Path(work) / "operator.log"
        with log.open("wb") as out:
            operator = subprocess.Popen(
                [sys.executable, "-m", "gptoss_operator", "--kubeconfig", str(info.kubeconfig)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "GPTOSS_OPERATOR_RESYNC_SECONDS": str(args.resync),
                },
            )
            try:
                result.update(measure(info, operator.pid, log, args))
            finally:
                operator.terminate()
                operator.wait(timeout=30)
        result["operator_log_tail"] = log.read_text(errors="replace")[-4000:].splitlines()[-20:]
    report(result, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
