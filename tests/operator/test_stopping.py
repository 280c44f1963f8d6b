"""A stopping vLLM replica drains before SIGTERM: its preStop hook waits out the router's notice
and then every running request, judged by vLLM's own metrics.

The hook's script runs here, as the kubelet would run it in the container, against the vLLM
simulator on a local port while a stream is in flight (KWOK runs no hooks).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import openai

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.children.deployment import build_deployment, rolling_update
from gptoss_operator.children.stopping import NOTICE_SECONDS, drain_script
from gptoss_operator.reconciling.planning import plan, pod_extras
from gptoss_operator.settings import OperatorSettings
from gptoss_sim import CapacityParams, ReplyParams, VllmSim, running
from tests.operator.gptoss_crd import manifest
from tests.sim.conftest import vllm_config

SLOW = CapacityParams(
    max_num_seqs=4,
    max_num_batched_tokens=512,
    kv_cache_tokens=64_000,
    max_model_len=8_192,
    step_base_s=0.05,
    step_per_seq_s=0.0,
    prefill_token_s=0.00001,
    startup_s=0.0,
)


def _deployment(spec: dict[str, object], *, surge: bool = False) -> dict[str, object]:
    body = manifest("chat", spec)
    body["metadata"].update({"namespace": "ml", "uid": "u-1"})  # type: ignore[index]
    decided = plan(body, OperatorSettings())
    assert decided.sizing is not None and decided.weights is not None
    return build_deployment(
        decided.owner,
        decided.spec,
        decided.sizing,
        decided.weights,
        replicas=1,
        image=decided.image,
        extras=pod_extras(GptOssDeploymentSpec.model_validate(spec)),
        startup_timeout_seconds=1800,
        shm_size="16Gi",
        surge=surge,
    )


def test_replicas_stop_through_a_draining_pre_stop_hook_within_the_configured_grace() -> None:
    spec = {
        "model": "gpt-oss-20b",
        "gpu": {"product": "H100-80GB"},
        "rollout": {"terminationGracePeriodSeconds": 1800},
    }
    pod = _deployment(spec)["spec"]["template"]["spec"]  # type: ignore[index]
    assert pod["terminationGracePeriodSeconds"] == 1800
    (container,) = pod["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["python3", "-c"]
    assert f"+ {1800 - NOTICE_SECONDS}" in command[2]
    default = _deployment({"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}})
    assert default["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 600  # type: ignore[index]


def test_a_surging_rollout_starts_the_new_replica_before_stopping_the_old_one() -> None:
    spec = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}
    surging = _deployment(spec, surge=True)["spec"]["strategy"]  # type: ignore[index]
    assert surging["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert rolling_update(False) == {"maxSurge": 0, "maxUnavailable": 1}


def test_the_pre_stop_hook_returns_only_after_the_running_stream_has_finished() -> None:
    config = vllm_config(capacity=SLOW, reply=ReplyParams(answer_tokens=40))
    with running(VllmSim(config)) as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="x", max_retries=0)
        finished: list[float] = []
        started = threading.Event()

        def stream() -> None:
            chunks = client.chat.completions.create(
                model="openai/gpt-oss-120b",
                messages=[{"role": "user", "content": "think long"}],
                stream=True,
            )
            for _ in chunks:
                started.set()
            finished.append(time.monotonic())

        worker = threading.Thread(target=stream)
        worker.start()
        assert started.wait(10)
        script = drain_script(120, port=server.port, notice=0.1)
        hook = subprocess.run([sys.executable, "-c", script], timeout=60, check=False)
        hook_done = time.monotonic()
        worker.join(10)
        assert hook.returncode == 0
        assert finished and finished[0] <= hook_done  # the stream ended before the hook returned

        idle = subprocess.run([sys.executable, "-c", script], timeout=30, check=False)
        assert idle.returncode == 0  # nothing running: returns after the notice
