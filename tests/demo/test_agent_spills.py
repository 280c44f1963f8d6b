"""An agent's conversation outlives its pod's saturation: on the demo stack (real control plane,
operator, router and redis-server), an OpenAI Agents SDK run with a function tool chains its
turns with ``previous_response_id``. Its first turns run on the GPU replica; while other load
saturates the replica the next turns continue on a hosted provider, with the whole conversation
rehydrated by the router; once the load is gone the turns after come back to the replica. The
client never sees an error."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import yaml

from gptoss_demo.stack import DEMO_APP_KEY, Stack, running_stack
from gptoss_localkube.net import answers
from tests.waiting import eventually

MODEL = "gpt-oss-120b"
SEQS = 2  # the replica's batch
# The router sees a replica saturated once its queue holds max_queue_depth (4) requests.
STREAMS = SEQS + 5
CR = {
    "apiVersion": "gptoss.dev/v1alpha1",
    "kind": "GptOssDeployment",
    "metadata": {"name": "agent"},
    "spec": {
        "model": MODEL,
        "gpu": {"product": "H100-80GB"},
        "replicas": 1,
        "serving": {"maxNumSeqs": SEQS},
        "spillover": {
            "providers": ["groq", "fireworks", "together"],
            "when": ["Saturated", "Unavailable"],
        },
        "pod": {
            "annotations": {
                "localkube.gptoss.dev/runtime": "vllm-sim",
                "localkube.gptoss.dev/startup-seconds": "3",
            }
        },
    },
}


def _served_by(client: openai.OpenAI) -> str:
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "ping"}], max_tokens=4
    )
    raw.parse()
    return str(raw.headers["x-gptoss-backend"])


@contextmanager
def _saturating_load(stack: Stack, streams: int) -> Iterator[None]:
    """``streams`` long streamed requests held open on the replica until the block ends."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def one() -> None:
        client = openai.OpenAI(base_url=stack.router_api, api_key=DEMO_APP_KEY, max_retries=0)
        try:
            while not stop.is_set():
                stream = client.chat.completions.create(
                    model=MODEL,
                    messages=[{"role": "user", "content": "Write a very long story."}],
                    max_tokens=4000,
                    stream=True,
                    extra_headers={"x-gptoss-route": "local"},
                )
                with stream:
                    for _ in stream:
                        if stop.is_set():
                            break
        except BaseException as err:
            errors.append(err)
        finally:
            client.close()

    threads = [threading.Thread(target=one, daemon=True) for _ in range(streams)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == [], errors


def test_an_agent_conversation_spills_while_its_pod_is_saturated_and_comes_back(
    tmp_path: Path,
) -> None:
    from agents import (
        Agent,
        OpenAIResponsesModel,
        RunConfig,
        Runner,
        function_tool,
        set_tracing_disabled,
    )

    set_tracing_disabled(True)
    asked: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        asked.append(city)
        return "sunny, 21 C"

    with running_stack(tmp_path, say=lambda _: None, pod_network="127.79.0.0/16") as stack:
        applied = stack.kubectl("apply", "-n", stack.namespace, "-f", "-", stdin=yaml.safe_dump(CR))
        assert applied.returncode == 0, applied.stderr
        waited = stack.kubectl("wait", "gptoss/agent", "-n", stack.namespace,
                               "--for=condition=Ready", "--timeout=90s")  # fmt: skip
        assert waited.returncode == 0, waited.stderr
        eventually(lambda: answers(f"{stack.router_url}/readyz"), timeout=30, what="router ready")
        probe = openai.OpenAI(base_url=stack.router_api, api_key=DEMO_APP_KEY, max_retries=0)
        eventually(lambda: _served_by(probe) == "local", timeout=30, what="the replica serving")

        backends: list[list[str]] = []

        async def turn(text: str, previous: str | None) -> Any:
            seen: list[str] = []

            async def record(response: httpx.Response) -> None:
                seen.append(response.headers.get("x-gptoss-backend", "?"))

            http = httpx.AsyncClient(event_hooks={"response": [record]}, timeout=60)
            client = openai.AsyncOpenAI(
                base_url=stack.router_api, api_key=DEMO_APP_KEY, max_retries=0, http_client=http
            )
            agent = Agent(
                name="weather",
                instructions="Answer with the weather, using the tool.",
                tools=[get_weather],
                model=OpenAIResponsesModel(model=MODEL, openai_client=client),
            )
            try:
                result = await Runner.run(
                    agent,
                    text,
                    previous_response_id=previous,
                    run_config=RunConfig(tracing_disabled=True),
                )
            finally:
                await client.close()
            backends.append(seen)
            assert result.final_output
            return result

        first = asyncio.run(turn("Weather in Paris?", None))
        with _saturating_load(stack, streams=STREAMS):
            eventually(
                lambda: _served_by(probe) != "local",
                timeout=30,
                what="the router to see the replica saturated and spill",
            )
            second = asyncio.run(turn("And in Rome?", first.last_response_id))
        eventually(lambda: _served_by(probe) == "local", timeout=60, what="the replica free again")
        third = asyncio.run(turn("And in Oslo?", second.last_response_id))
        probe.close()

    assert third.final_output
    assert backends[0] and set(backends[0]) == {"local"}
    assert backends[1] and "local" not in backends[1], backends
    assert backends[2] and set(backends[2]) == {"local"}, backends
    assert len(asked) >= 3  # each turn called the tool, its output carried into the next
