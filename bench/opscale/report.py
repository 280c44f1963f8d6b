"""The operator scale benchmark's printed table."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["report"]


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
