"""The gateway benchmark's printed tables: one per cell (mode and concurrency), then the
gptoss / LiteLLM ratios, the open loop and the gateways' memory."""

from __future__ import annotations

from typing import Any

__all__ = ["print_cell", "print_summary"]


def _fmt(value: float | None, spec: str = "8.2f") -> str:
    return format(value, spec) if value is not None else " " * (int(spec.split(".")[0]) - 1) + "-"


def print_cell(cell: dict[str, Any], targets: list[str]) -> None:
    mode = "stream" if cell["stream"] else "json"
    direct = cell["direct"]
    print(f"\n{mode}, {cell['concurrency']} concurrent")
    print(
        f"  {'path':<14}{'req/s':>9}{'x direct':>9}{'p50 ms':>9}{'p99 ms':>9}{'+p50 ms':>9}"
        f"{'+p99 ms':>9}{'+TTFT p50':>10}{'errors':>7}{'gw CPU%':>8}"
    )
    for name in targets:
        r = cell[name]
        added = name != "direct"
        lat, ttft = r["latency_ms"], r["ttft_ms"]
        cpu = r["gateway_cpu_pct"].get(name) if added else None
        show_ttft = added and cell["stream"]
        print(
            f"  {name:<14}{r['rps']:>9.0f}{r['rps'] / direct['rps']:>9.3f}{lat['p50']:>9.2f}"
            f"{lat['p99']:>9.2f}"
            f"{_fmt(lat['p50'] - direct['latency_ms']['p50'] if added else None, '9.2f')}"
            f"{_fmt(lat['p99'] - direct['latency_ms']['p99'] if added else None, '9.2f')}"
            f"{_fmt(ttft['p50'] - direct['ttft_ms']['p50'] if show_ttft else None, '10.2f')}"
            f"{r['errors']:>7}{_fmt(cpu, '8.0f')}"
        )  # fmt: skip
    if "litellm" in cell and cell["litellm"]["rps"] > 0:
        print(
            f"  gptoss / LiteLLM requests/s: {cell['gptoss']['rps'] / cell['litellm']['rps']:.1f}x"
        )
    if "gptoss+store" in cell and cell["gptoss"]["rps"] > 0:
        stored, alone = cell["gptoss+store"], cell["gptoss"]
        print(
            f"  gptoss+store / gptoss requests/s: {stored['rps'] / alone['rps']:.3f}, "
            f"+p50 {stored['latency_ms']['p50'] - alone['latency_ms']['p50']:+.3f} ms"
        )


def print_summary(results: dict[str, Any], targets: list[str], levels: list[int]) -> None:
    for name in [t for t in targets if t.startswith("gptoss")]:
        print(f"\nrequests/s, {name} / LiteLLM (goal >= 25x at 64 concurrent):")
        print(f"  {'mode':<14}" + "".join(f"{c:>9}" for c in levels))
        for stream in (False, True):
            row = []
            for cell in results["cells"]:
                if cell["stream"] != stream:
                    continue
                lite = cell.get("litellm", {}).get("rps", 0)
                row.append(f"{cell[name]['rps'] / lite:>8.1f}x" if lite else f"{'-':>9}")
            print(f"  {'stream' if stream else 'json':<14}" + "".join(row))
    if results["open_loop"]:
        print("\nopen loop at a fixed rate (non-streaming; latency from the scheduled start):")
        print(
            f"  {'path':<14}{'rate':>7}{'done/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'+p99 ms':>9}"
            f"{'errors':>7}"
        )
        direct = next(r for r in results["open_loop"] if r["target"] == "direct")
        for r in results["open_loop"]:
            added = r["latency_ms"]["p99"] - direct["latency_ms"]["p99"]
            print(
                f"  {r['target']:<14}{r['rate']:>7.0f}{r['rps']:>8.0f}"
                f"{r['latency_ms']['p50']:>9.2f}{r['latency_ms']['p99']:>9.2f}"
                f"{_fmt(added if r['target'] != 'direct' else None, '9.2f')}{r['errors']:>7}"
            )  # fmt: skip
    print("\nRSS MiB     idle  peak (VmHWM)  end")
    for name in targets[1:]:
        idle, peak = results["idle_rss_mib"][name], results["peak_rss_mib"][name]
        print(f"  {name:<14}{idle:>6.0f}{peak:>14.0f}{results['end_rss_mib'][name]:>6.0f}")
