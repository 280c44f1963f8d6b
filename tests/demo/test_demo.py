"""The demo's story, shortened, end to end: a real control plane with fake GPU nodes, the
operator and the router as processes, vLLM simulators on the pods' IPs, simulated providers,
and load through the router with the official openai SDK."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gptoss_demo.report import plot, summary
from gptoss_demo.scenario import SHORT, run_scenario
from gptoss_demo.stack import running_stack


def test_the_short_demo_serves_locally_spills_fails_over_and_scales(tmp_path: Path) -> None:
    lines: list[str] = []
    with running_stack(tmp_path, say=lines.append, pod_network="127.77.0.0/16") as stack:
        story, timeline = asyncio.run(run_scenario(stack, SHORT, lines.append))
        operator = httpx.get(stack.operator_metrics_url, timeout=5).text

    report = summary(story, timeline.samples)
    assert story.problems() == [], report + "\n" + "\n".join(lines[-30:])
    assert story.served_locally > 0
    assert sum(story.spilled_to.values()) > 0
    assert story.failed_provider is not None
    assert story.failed_provider not in story.failover_to and story.failover_to
    assert story.peak_replicas > story.final_replicas == 1
    scales: Counter[str] = Counter()  # what the operator's own metrics counted
    for family in text_string_to_metric_families(operator):
        for sample in family.samples:
            if sample.name == "gptoss_operator_scales_total":
                scales[sample.labels["direction"]] += int(sample.value)
    assert scales["up"] >= 1 and scales["down"] >= 1, operator
    phases = {sample.phase for sample in timeline.samples}
    assert {"local", "saturate", "failover", "idle"} <= phases
    image = plot(timeline.samples, tmp_path / "plot.png")
    assert image is not None and image.stat().st_size > 10_000
    assert "result                            OK" in report
