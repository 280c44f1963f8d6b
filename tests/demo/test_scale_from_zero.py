"""Scale from zero through the real router: the first request is answered by a provider at
once, the operator sees the router's spilled demand and starts a replica, and once it is Ready
new requests are served locally."""

from __future__ import annotations

from pathlib import Path

import openai
import yaml

from gptoss_demo.stack import DEMO_APP_KEY, running_stack
from gptoss_localkube.net import answers
from tests.waiting import eventually

CR = {
    "apiVersion": "gptoss.dev/v1alpha1",
    "kind": "GptOssDeployment",
    "metadata": {"name": "cold"},
    "spec": {
        "model": "gpt-oss-120b",
        "gpu": {"product": "H100-80GB"},
        "replicas": 0,
        "autoscaling": {
            "minReplicas": 0,
            "maxReplicas": 2,
            "targetQueueDepth": 4,
            "scaleDownDelay": "10m",
        },
        "spillover": {"providers": ["together"], "when": ["ScaledToZero", "Saturated"]},
        "pod": {
            "annotations": {
                "localkube.gptoss.dev/runtime": "vllm-sim",
                "localkube.gptoss.dev/startup-seconds": "3",
            }
        },
    },
}


def _ask(client: openai.OpenAI) -> str:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-oss-120b", messages=[{"role": "user", "content": "hello"}], max_tokens=16
    )
    raw.parse()
    return str(raw.headers["x-gptoss-backend"])


def test_the_first_request_spills_then_a_replica_starts_and_serves_locally(tmp_path: Path) -> None:
    with running_stack(tmp_path, say=lambda _: None, pod_network="127.78.0.0/16") as stack:
        applied = stack.kubectl("apply", "-n", stack.namespace, "-f", "-", stdin=yaml.safe_dump(CR))
        assert applied.returncode == 0, applied.stderr
        waited = stack.kubectl("wait", "gptoss/cold", "-n", stack.namespace,
                               "--for=jsonpath={.status.conditions[?(@.type=='Ready')].reason}"
                               "=ScaledToZero", "--timeout=60s")  # fmt: skip
        assert waited.returncode == 0, waited.stderr
        eventually(
            lambda: answers(f"{stack.router_url}/readyz"),
            timeout=30,
            what="the router to be ready (it has discovered the model)",
        )
        client = openai.OpenAI(base_url=stack.router_api, api_key=DEMO_APP_KEY, max_retries=0,
                               timeout=60)  # fmt: skip
        eventually(
            lambda: _ask(client) == "together",
            timeout=30,
            what="the router to know the model and spill its first request",
        )
        waited = stack.kubectl("wait", "gptoss/cold", "-n", stack.namespace,
                               "--for=condition=Ready", "--timeout=90s")  # fmt: skip
        assert waited.returncode == 0, waited.stderr
        assert eventually(
            lambda: _ask(client) == "local",
            timeout=30,
            what="requests to go local once the replica is Ready",
        )
        scaled = stack.kubectl("get", "gptoss/cold", "-n", stack.namespace, "-o",
                               "jsonpath={.spec.replicas}")  # fmt: skip
        assert scaled.stdout == "1"
        client.close()
