"""The measurement against a running operator: create the CRs at once, poll until every one
settled and converged, then watch steady-state resyncs for writes and CPU."""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import time
from pathlib import Path
from typing import Any

import httpx

from gptoss_localkube.cluster import ClusterInfo

from .audit import breakdown, operator_writes, resync_lines
from .crs import PLURAL, converged, cr, settled
from .profiling import finish_profile, start_profile

__all__ = ["cpu_seconds", "measure", "rss_mib"]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


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
