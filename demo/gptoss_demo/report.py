"""The demo's closing report: what happened, a plot of replicas and spill over time, and how to
poke the running system."""

from __future__ import annotations

from pathlib import Path

from gptoss_demo.scenario import Story
from gptoss_demo.stack import DEMO_APP_KEY, Stack
from gptoss_demo.timeline import Sample

__all__ = ["plot", "poke_commands", "summary"]


def summary(story: Story, samples: list[Sample]) -> str:
    last = samples[-1] if samples else None
    lines = [
        "gptoss demo report",
        f"  served by the local GPU replica   {story.served_locally} requests (light load)",
        "  spilled under saturation          "
        + (", ".join(f"{k} {v}" for k, v in story.spilled_to.most_common()) or "nothing"),
        f"  provider failure                  {story.failed_provider} answered 503; "
        + "failed over to "
        + (", ".join(f"{k} {v}" for k, v in story.failover_to.most_common()) or "nobody"),
        f"  replicas                          {story.min_replicas} -> peak "
        f"{story.peak_replicas} -> {story.final_replicas} after idle",
        f"  client-visible errors             {sum(story.client_errors.values())}",
    ]
    if last is not None:
        backends = ", ".join(f"{k} {v}" for k, v in sorted(last.by_backend.items()))
        lines.append(f"  requests by backend               {backends}")
        lines.append(f"  hosted spend                      ${last.dollars:.4f}")
    problems = story.problems()
    lines.append(
        "  result                            " + ("OK" if not problems else "; ".join(problems))
    )
    return "\n".join(lines)


def plot(samples: list[Sample], path: Path) -> Path | None:
    """Replicas and cumulative spill over time, shaded by phase; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    if not samples:
        return None
    t = [s.t for s in samples]
    fig, left = plt.subplots(figsize=(9, 4.5), dpi=110)
    left.step(t, [s.ready for s in samples], where="post", label="replicas ready", linewidth=2)
    left.step(
        t, [s.desired for s in samples], where="post", label="replicas wanted", linestyle="--"
    )
    left.set_xlabel("seconds")
    left.set_ylabel("replicas")
    right = left.twinx()
    right.plot(t, [s.spilled for s in samples], color="tab:red", label="spilled requests")
    right.set_ylabel("spilled requests (cumulative)")
    start = 0
    for i in range(1, len(samples) + 1):
        if i == len(samples) or samples[i].phase != samples[start].phase:
            left.axvspan(
                samples[start].t,
                samples[i - 1].t,
                alpha=0.08,
                color="grey" if start % 2 else "blue",
            )
            left.text(samples[start].t, left.get_ylim()[1] * 0.95, samples[start].phase, fontsize=8)
            start = i
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    left.legend(handles, labels, loc="upper right", fontsize=8)
    left.set_title("gptoss demo: replicas and spill over time")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def poke_commands(stack: Stack, *, running: bool) -> str:
    k = f"KUBECONFIG={stack.cluster.kubeconfig} {stack.toolchain.kubectl}"
    return "\n".join(
        [
            "poke it:"
            if running
            else "to poke it, run `make demo ARGS=--keep`, then (paths change):",
            f"  {k} get gptoss -n {stack.namespace}",
            f"  {k} describe gptoss chat -n {stack.namespace}",
            f"  {k} get pods -n {stack.namespace} -o wide",
            f"  curl -s {stack.router_api}/chat/completions -H 'content-type: application/json' "
            f"-H 'authorization: Bearer {DEMO_APP_KEY}' "
            '-d \'{"model":"gpt-oss-120b","messages":[{"role":"user","content":"hi"}]}\'',
            f"  curl -s {stack.router_url}/metrics | grep gptoss_router_requests",
            f"  curl -s {stack.operator_metrics_url} | grep gptoss_operator_scales",
        ]
    )
