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
import collections
import concurrent.futures
import contextlib
import datetime as dt
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from gptoss_localkube.cluster import ClusterInfo, LocalCluster
from gptoss_localkube.toolchain import ensure_toolchain

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "bench" / "results" / "operator_scale.json"
NAMESPACE = "scale"
PLURAL = "/apis/gptoss.dev/v1alpha1/namespaces/scale/gptossdeployments"
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
OPERATOR_AGENTS = ("gptoss-operator", "kopf")
RESYNC_LINE = re.compile(r"resync: (\d+) GptOssDeployments checked")


def cr(index: int, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "gptoss.dev/v1alpha1",
        "kind": "GptOssDeployment",
        "metadata": {"name": f"scale-{index:03d}", "namespace": NAMESPACE},
        "spec": {
            "model": "gpt-oss-20b",
            "gpu": {"product": "H100-80GB", "count": 1},
            "replicas": replicas,
        },
    }


def _conditions(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    status = body.get("status") or {}
    if status.get("observedGeneration") != body["metadata"].get("generation"):
        return {}
    return {c.get("type", ""): c for c in status.get("conditions", [])}


def settled(body: dict[str, Any]) -> bool:
    """Ready says what the spec asks: True with replicas 1, reason ScaledToZero with 0."""
    ready = _conditions(body).get("Ready")
    if ready is None:
        return False
    if int(body["spec"].get("replicas", 1)) == 0:
        return bool(ready.get("reason") == "ScaledToZero")
    return bool(ready.get("status") == "True")


def converged(body: dict[str, Any]) -> bool:
    """Settled, and the rollout is over too: Progressing and Degraded both False."""
    conditions = _conditions(body)
    return settled(body) and all(
        conditions.get(kind, {}).get("status") == "False" for kind in ("Progressing", "Degraded")
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def operator_writes(audit: Path, start: int, end: int | None = None) -> list[dict[str, Any]]:
    """The operator's completed writes in the audit log between two byte offsets."""
    with audit.open("rb") as handle:
        handle.seek(start)
        data = handle.read() if end is None else handle.read(end - start)
    out = []
    for line in data.decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if (
                event.get("stage") == "ResponseComplete"
                and event.get("verb") in WRITES
                and str(event.get("userAgent", "")).startswith(OPERATOR_AGENTS)
            ):
                out.append(event)
    return out


def breakdown(events: list[dict[str, Any]]) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    for e in events:
        ref = e.get("objectRef", {})
        what = ref.get("resource", "?") + (
            f"/{ref['subresource']}" if ref.get("subresource") else ""
        )
        agent = str(e.get("userAgent", "")).split("/", 1)[0]
        counts[f"{agent} {e['verb']} {what}"] += 1
    return dict(counts.most_common())


def resync_lines(log: Path) -> list[int]:
    return [int(m.group(1)) for m in RESYNC_LINE.finditer(log.read_text(errors="replace"))]


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


def measure(info: ClusterInfo, pid: int, log: Path, args: argparse.Namespace) -> dict[str, Any]:
    http = httpx.Client(
        base_url=info.server,
        verify=str(info.ca_file),
        headers={"authorization": f"Bearer {info.token}"},
        timeout=30,
    )
    time.sleep(3)  # the operator connects and starts its watches
    if not Path(f"/proc/{pid}").exists():
        raise RuntimeError(f"the operator exited:\n{log.read_text()[-3000:]}")
    cpu0, audit0 = cpu_seconds(pid), info.audit_log.stat().st_size
    bodies = [cr(i, 1 if i < args.running else 0) for i in range(args.crs)]

    def create(body: dict[str, Any]) -> None:
        r = http.post(PLURAL, json=body)
        if r.status_code != 201:
            raise RuntimeError(f"create {body['metadata']['name']}: {r.status_code} {r.text}")

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(create, bodies))
    applied = time.monotonic() - t0
    print(f"{args.crs} GptOssDeployments created in {applied:.2f}s")

    timeline: list[tuple[float, int, int]] = []
    settle_s: float | None = None
    converge_s: float | None = None
    while time.monotonic() - t0 < args.timeout:
        items = http.get(PLURAL).json()["items"]
        done = sum(settled(i) for i in items)
        whole = sum(converged(i) for i in items)
        now = round(time.monotonic() - t0, 2)
        if not timeline or timeline[-1][1:] != (done, whole):
            timeline.append((now, done, whole))
            print(f"  {now:7.2f}s  {done:>4}/{args.crs} settled, {whole:>4} converged")
        if done == args.crs and settle_s is None:
            settle_s = now
            settle_cpu = cpu_seconds(pid) - cpu0
            settle_writes = operator_writes(info.audit_log, audit0)
        if whole == args.crs:
            converge_s = now
            break
        time.sleep(0.5)
    if settle_s is None:
        settle_cpu = cpu_seconds(pid) - cpu0
        settle_writes = operator_writes(info.audit_log, audit0)
    converge_writes = operator_writes(info.audit_log, audit0)
    out: dict[str, Any] = {
        "create_s": round(applied, 2),
        "settle_s": settle_s,
        "converge_s": converge_s,
        "timeline_s_settled_converged": timeline,
        "settle_cpu_s": round(settle_cpu, 2),
        "converge_cpu_s": round(cpu_seconds(pid) - cpu0, 2),
        "settle_writes": len(settle_writes),
        "converge_writes": len(converge_writes),
        "converge_writes_by_kind": breakdown(converge_writes),
    }
    if converge_s is None:
        items = http.get(PLURAL).json()["items"]
        stuck = [i for i in items if not converged(i)][:5]
        out["unconverged_examples"] = [
            {"name": i["metadata"]["name"], "status": i.get("status")} for i in stuck
        ]
        return out

    # Steady state: let one full resync pass after converging, then watch the next ones.
    seen = len(resync_lines(log))
    deadline = time.monotonic() + 4 * args.resync + 120
    while len(resync_lines(log)) < seen + 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    mark_audit, mark_cpu, mark_t = info.audit_log.stat().st_size, cpu_seconds(pid), time.monotonic()
    base = len(resync_lines(log))
    spy = start_profile(pid, args) if args.profile else None
    ends: list[float] = []
    per_resync: list[dict[str, Any]] = []
    last_audit, last_cpu = mark_audit, mark_cpu
    deadline = time.monotonic() + args.resyncs * (args.resync * 4 + 120)
    while len(ends) < args.resyncs and time.monotonic() < deadline:
        if len(resync_lines(log)) > base + len(ends):
            now_audit, now_cpu = info.audit_log.stat().st_size, cpu_seconds(pid)
            writes = operator_writes(info.audit_log, last_audit, now_audit)
            ends.append(time.monotonic())
            per_resync.append(
                {
                    "writes": len(writes),
                    "writes_by_kind": breakdown(writes),
                    "cpu_s": round(now_cpu - last_cpu, 3),
                    "checked": resync_lines(log)[base + len(ends) - 1],
                }
            )
            last_audit, last_cpu = now_audit, now_cpu
        time.sleep(0.05)
    window = (ends[-1] - mark_t) if ends else 0.0
    out["steady"] = {
        "resyncs": per_resync,
        "window_s": round(window, 1),
        "writes_per_resync": (
            sum(r["writes"] for r in per_resync) / len(per_resync) if per_resync else None
        ),
        "cpu_s_per_resync": (
            round(sum(r["cpu_s"] for r in per_resync) / len(per_resync), 3) if per_resync else None
        ),
        # a resync starts resync_seconds after the previous one ended
        "resync_busy_s": [
            round(b - a - args.resync, 2) for a, b in zip([mark_t, *ends], ends, strict=False)
        ][1:],
        "operator_rss_mib": round(rss_mib(pid), 1),
    }
    if spy is not None:
        out["steady"]["profile"] = finish_profile(*spy)
    return out


def py_spy() -> Path | None:
    """py-spy from PyPI in its own venv under ~/.cache/gptoss/tools (installed on demand)."""
    venv = Path.home() / ".cache" / "gptoss" / "tools" / "py-spy-venv"
    binary = venv / "bin" / "py-spy"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", "py-spy==0.4.3"],
            check=True,
        )  # fmt: skip
    return binary


def start_profile(pid: int, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], Path]:
    """Sample every thread of the operator (100 Hz, idle stacks dropped) while resyncs run."""
    binary = py_spy()
    raw = Path(tempfile.mkdtemp(prefix="opscale-spy-")) / "operator.txt"
    seconds = int(args.resyncs * (args.resync + 10))
    proc = subprocess.Popen(
        [str(binary), "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "100",
         "--format", "raw", "--output", str(raw), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return proc, raw


def _short(frame: str) -> str:
    """``func (/long/path/site-packages/pkg/mod.py:12)`` -> ``func (pkg/mod.py)``."""
    frame = re.sub(r":\d+\)$", ")", frame)
    return re.sub(r" \([^()]*?(?:site-packages/|(?=gptoss_))", " (", frame)


def finish_profile(proc: subprocess.Popen[bytes], raw: Path) -> dict[str, Any]:
    """Where the sampled CPU went: functions by inclusive share, top 15."""
    proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C, not on SIGTERM
    proc.wait(timeout=60)
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    if raw.exists():
        for line in raw.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = {_short(f) for f in stack.split(";")}
            for frame in frames:
                inclusive[frame] += n
    top = [
        {"share": round(n / total, 3), "frame": frame}
        for frame, n in inclusive.most_common(40)
        if n / total < 0.999
    ][:15]
    return {"samples": total, "top_inclusive": top}


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\noperator at scale: {args.crs} GptOssDeployments ({args.running} with replicas 1)")
    settle = result.get("settle_s")
    shown = f"{settle:.1f} s" if settle is not None else f"not within {args.timeout:.0f} s"
    rows = [
        ("created (16 concurrent POSTs)", f"{result.get('create_s', 0):.2f} s"),
        ("all settled (goal < 60 s)", shown),
        ("operator CPU until settled", f"{result.get('settle_cpu_s', 0):.1f} s"),
        ("operator writes until settled", str(result.get("settle_writes"))),
        (
            "all converged (rollouts over too)",
            f"{result['converge_s']:.1f} s" if result.get("converge_s") is not None else "no",
        ),
        ("operator CPU until converged", f"{result.get('converge_cpu_s', 0):.1f} s"),
        ("operator writes until converged", str(result.get("converge_writes"))),
    ]
    steady = result.get("steady")
    if steady:
        rows += [
            ("resync period", f"{args.resync:.0f} s"),
            ("resyncs watched", str(len(steady["resyncs"]))),
            ("writes per resync (goal 0)", f"{steady['writes_per_resync']}"),
            ("operator CPU per resync period", f"{steady['cpu_s_per_resync']} s"),
            ("resync busy time (wall)", ", ".join(f"{s:.1f} s" for s in steady["resync_busy_s"])),
            ("operator RSS", f"{steady['operator_rss_mib']:.0f} MiB"),
        ]
    for name, value in rows:
        print(f"  {name:<34}{value}")
    if result.get("converge_writes_by_kind"):
        print("  writes until converged, by agent, verb and resource:")
        for kind, n in result["converge_writes_by_kind"].items():
            print(f"    {n:>6}  {kind}")
    if steady:
        for i, r in enumerate(steady["resyncs"]):
            print(
                f"  resync {i + 1}: {r['writes']} writes {r['writes_by_kind']}, {r['cpu_s']} s CPU"
            )


if __name__ == "__main__":
    raise SystemExit(main())
