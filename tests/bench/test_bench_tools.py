"""The benchmarks' own parts, fast: how a fake upstream reads requests, percentiles, what
counts as settled, which audit events are the operator's writes, the gateways' configurations,
and the compiled load generator end to end."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from bench.gateway import configs as gw
from bench.gateway.processes import free_port
from bench.gateway.tools import ensure_gwload
from bench.harness.http1 import next_request
from bench.harness.processes import percentile
from bench.opscale import crs
from bench.opscale.audit import breakdown, operator_writes
from bench.opscale.profiling import short_frame


def _cr(replicas: int, generation: int, observed: int, **conditions: tuple[str, str]) -> Any:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "conditions": [
                {"type": kind, "status": status, "reason": reason}
                for kind, (status, reason) in conditions.items()
            ],
        },
    }


def test_settled_follows_the_spec_and_the_generation() -> None:
    done = {"Progressing": ("False", "Complete"), "Degraded": ("False", "AsExpected")}
    running = _cr(1, 2, 2, Ready=("True", "Serving"), **done)
    zero = _cr(0, 1, 1, Ready=("False", "ScaledToZero"), **done)
    assert crs.settled(running) and crs.converged(running)
    assert crs.settled(zero) and crs.converged(zero)
    assert not crs.settled(_cr(1, 2, 1, Ready=("True", "Serving")))  # stale status
    assert not crs.settled(_cr(1, 1, 1, Ready=("False", "ScaledToZero")))
    assert not crs.settled(_cr(0, 1, 1, Ready=("False", "DoesNotFit")))
    rolling = _cr(0, 1, 1, Ready=("False", "ScaledToZero"), Progressing=("True", "RollingOut"))
    assert crs.settled(rolling) and not crs.converged(rolling)


def test_only_the_operators_completed_writes_count(tmp_path: Path) -> None:
    def event(agent: str, verb: str, stage: str = "ResponseComplete") -> str:
        ref = {"resource": "gptossdeployments", "subresource": "status"}
        return json.dumps({"stage": stage, "verb": verb, "userAgent": agent, "objectRef": ref})

    audit = tmp_path / "audit.log"
    lines = [
        event("gptoss-operator/0.1.0", "patch"),
        event("gptoss-operator/0.1.0", "patch", stage="ResponseStarted"),
        event("kopf/1.38", "patch"),
        event("kubectl/v1.35", "patch"),
        event("gptoss-operator/0.1.0", "get"),
        "not json",
    ]
    audit.write_text("\n".join(lines) + "\n")
    writes = operator_writes(audit, 0)
    assert len(writes) == 2
    assert breakdown(writes) == {
        "gptoss-operator patch gptossdeployments/status": 1,
        "kopf patch gptossdeployments/status": 1,
    }
    assert operator_writes(audit, audit.stat().st_size) == []


def test_profile_frames_are_shortened() -> None:
    assert short_frame("run (/x/site-packages/kopf/_core/a.py:12)") == "run (kopf/_core/a.py)"
    assert short_frame("plan (/w/operator/gptoss_operator/r.py:3)") == "plan (gptoss_operator/r.py)"


def test_gateway_configurations_have_no_database_and_one_key() -> None:
    lite = gw.litellm_config(9000)
    assert "database_url" not in lite["general_settings"]
    assert lite["general_settings"]["master_key"] == gw.KEY
    assert lite["litellm_settings"]["set_verbose"] is False
    assert lite["model_list"][0]["litellm_params"]["api_base"] == "http://127.0.0.1:9000/v1"
    ours = gw.gptoss_config(8000, 9000)
    assert ours["apps"] == [{"name": "bench", "key": gw.KEY}]
    assert ours["models"][gw.MODEL]["local"]["pods"] == ["http://127.0.0.1:9000"]


@pytest.mark.timeout(180)
def test_load_generator_against_the_fake_upstream(tmp_path: Path) -> None:
    gwload = ensure_gwload()
    port = free_port()
    upstream = subprocess.Popen([str(gwload), "upstream", "-addr", f"127.0.0.1:{port}"])
    try:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        for _ in range(100):  # until the upstream listens
            done = subprocess.run(
                [str(gwload), "load", "-url", url, "-c", "1", "-n", "1"],
                capture_output=True,
                text=True,
                check=False,
            )
            if json.loads(done.stdout or "{}").get("requests") == 1:
                break
            time.sleep(0.05)
        for extra in ([], ["-stream"], ["-rate", "200"]):
            run = json.loads(
                subprocess.run(
                    [str(gwload), "load", "-url", url, "-c", "4", "-d", "0.3s",
                     "-warmup", "0.1s", *extra],
                    capture_output=True, text=True, check=True,
                ).stdout
            )  # fmt: skip
            assert run["errors"] == 0, run
            assert run["requests"] > 10
            assert 0 < run["ttft_ms"]["p50"] <= run["latency_ms"]["p50"] + 1e-6
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)


def test_a_fake_upstream_reads_requests_whole_and_one_at_a_time() -> None:
    first = b'POST /v1/responses HTTP/1.1\r\nContent-Length: 7\r\n\r\n{"a":1}'
    second = b"POST /v1/responses HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}"
    assert next_request(first[:20]) is None  # the head has not all come
    assert next_request(first[:-1]) is None  # nor the body
    assert next_request(first + second) == (b'{"a":1}', second)
    assert next_request(second) == (b"{}", b"")
    assert next_request(b"GET / HTTP/1.1\r\n\r\nrest") == (b"", b"rest")


def test_percentiles_take_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51.0
    assert percentile(values, 0.99) == 100.0
    assert percentile([3.0, 1.0, 2.0], 0.0) == 1.0
