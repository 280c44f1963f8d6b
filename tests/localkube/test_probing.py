"""Kubelet probe semantics of the pod runtime (pure)."""

from __future__ import annotations

import sys

from gptoss_localkube.podcontainer import Container, expand, run_container_command
from gptoss_localkube.probing import ContainerHealth, Kind, Probe, Verdict

STARTUP = Probe(path="/health", port=8000, failure_threshold=3)
READY = Probe(path="/ready", port=8000, success_threshold=2, failure_threshold=2)
LIVE = Probe(path="/health", port=8000, failure_threshold=2)


def test_a_container_without_probes_is_started_and_ready_at_once() -> None:
    health = ContainerHealth(has_startup_probe=False, has_readiness_probe=False)
    assert health.started and health.ready


def test_only_the_startup_probe_runs_until_it_succeeds() -> None:
    health = ContainerHealth(has_startup_probe=True, has_readiness_probe=True)
    assert health.runs(Kind.STARTUP)
    assert not health.runs(Kind.READINESS) and not health.runs(Kind.LIVENESS)
    assert health.record(Kind.STARTUP, True, STARTUP) is Verdict.CHANGED
    assert health.started and not health.ready
    assert not health.runs(Kind.STARTUP) and health.runs(Kind.LIVENESS)


def test_startup_failures_up_to_the_threshold_restart_the_container() -> None:
    health = ContainerHealth(has_startup_probe=True, has_readiness_probe=True)
    verdicts = [
        health.record(Kind.STARTUP, False, STARTUP) for _ in range(STARTUP.failure_threshold)
    ]
    assert verdicts[:-1] == [Verdict.UNCHANGED] * (STARTUP.failure_threshold - 1)
    assert verdicts[-1] is Verdict.RESTART


def test_readiness_needs_consecutive_successes_and_drops_after_consecutive_failures() -> None:
    health = ContainerHealth(has_startup_probe=False, has_readiness_probe=True)
    assert not health.ready
    health.record(Kind.READINESS, True, READY)
    assert not health.ready
    health.record(Kind.READINESS, True, READY)
    assert health.ready
    health.record(Kind.READINESS, False, READY)
    assert health.ready
    assert health.record(Kind.READINESS, False, READY) is Verdict.CHANGED
    assert not health.ready


def test_a_success_resets_the_liveness_failure_count() -> None:
    health = ContainerHealth(has_startup_probe=False, has_readiness_probe=False)
    assert health.record(Kind.LIVENESS, False, LIVE) is Verdict.UNCHANGED
    health.record(Kind.LIVENESS, True, LIVE)
    assert health.record(Kind.LIVENESS, False, LIVE) is Verdict.UNCHANGED
    assert health.record(Kind.LIVENESS, False, LIVE) is Verdict.RESTART


def test_probe_fields_default_as_kubernetes_documents() -> None:
    probe = Probe.from_pod({"httpGet": {"path": "/health", "port": 8000}}, default_port=1)
    assert probe == Probe(path="/health", port=8000, period=10, timeout=1, failure_threshold=3)
    named = Probe.from_pod({"httpGet": {"path": "/", "port": "http"}}, default_port=8080)
    assert named is not None and named.port == 8080
    assert Probe.from_pod(None, default_port=1) is None


def test_variable_references_expand_like_kubernetes() -> None:
    env = {"POD_IP": "127.3.1.4", "PORT": "8000"}
    assert expand("--host=$(POD_IP):$(PORT)", env) == "--host=127.3.1.4:8000"
    assert expand("$$(POD_IP) $(MISSING)", env) == "$(POD_IP) $(MISSING)"


def test_the_process_runtime_runs_the_container_command_with_expanded_args() -> None:
    container = Container(
        namespace="ns",
        pod="p",
        ip="127.3.1.4",
        port=8000,
        image="img",
        command=("serve",),
        args=("--bind", "$(POD_IP)"),
        env={"POD_IP": "127.3.1.4"},
    )
    assert run_container_command(container) == ["serve", "--bind", "127.3.1.4"]


def test_the_vllm_sim_runtime_runs_the_exact_vllm_command_line_through_vllms_parser() -> None:
    from gptoss_localkube.nodes import CATALOG, build_nodes
    from gptoss_localkube.simruntime import STARTUP_ANNOTATION, vllm_sim_command
    from gptoss_sim.vllm_shim import simulator_args

    a100 = next(
        n["metadata"]["labels"]
        for n in build_nodes("127.3.0.0/16", CATALOG)
        if "A100" in n["metadata"]["labels"].get("nvidia.com/gpu.product", "")
    )
    container = Container(
        namespace="ns",
        pod="p",
        ip="127.3.1.4",
        port=8000,
        image="vllm/vllm-openai:v0.17.0",
        command=("vllm", "serve"),
        args=(
            "openai/gpt-oss-20b",
            "--served-model-name",
            "gpt-oss-20b",
            "--port",
            "8000",
            "--max-model-len=32768",
            "--max-num-seqs",
            "64",
            "--no-enable-prefix-caching",
        ),
        env={},
        annotations={STARTUP_ANNOTATION: "5"},
        labels={"gptoss.dev/model": "gpt-oss-20b"},
        node_labels=a100,
    )
    argv = vllm_sim_command(container)
    settings = dict(a.split("=", 1) for a in argv[1 : argv.index(sys.executable)])
    assert settings["GPTOSS_SIM_GPU_NAME"].startswith("NVIDIA A100")
    assert float(settings["GPTOSS_SIM_GPU_MEMORY_GIB"]) >= 70
    shim = argv[argv.index(sys.executable) + 1 :]
    assert shim[:2] == ["-m", "gptoss_sim.vllm_shim"]
    assert shim[2:] == ["serve", *container.args, "--host", "127.3.1.4"]
    sim = simulator_args(shim[2:], settings)
    assert sim[sim.index("--host") + 1] == "127.3.1.4"
    assert sim[sim.index("--model") + 1] == "gpt-oss-20b"
    assert sim[sim.index("--max-model-len") + 1] == "32768"
    assert sim[sim.index("--max-num-seqs") + 1] == "64"
    assert "--no-enable-prefix-caching" in sim
    assert sim[sim.index("--startup-seconds") + 1] == "5"
    assert sim[sim.index("--gpu-name") + 1].startswith("NVIDIA A100")
    # the pod's base model stands in for the checkpoint's config.json: the memory is divided
    assert settings["GPTOSS_SIM_CHECKPOINT"] == "gpt-oss-20b"
    assert sim[sim.index("--checkpoint") + 1] == "gpt-oss-20b"
    assert "--kv-cache-tokens" not in sim


def test_a_failed_containers_message_is_its_logs_last_80_lines_and_2048_bytes() -> None:
    from gptoss_localkube.podcontainer import log_tail_message

    lines = [f"line {n}" for n in range(200)]
    message = log_tail_message("\n".join(lines))
    assert message.splitlines() == lines[-80:]
    long = log_tail_message("x" * 5000 + "\nValueError: the end")
    assert len(long.encode()) == 2048 and long.endswith("ValueError: the end")
