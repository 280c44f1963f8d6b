"""Faults injected per request (header) or by schedule reach the client as real failures."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from gptoss_sim import FAULT_HEADER, ProviderSim, Running, VllmSim, cli, running
from tests.sim.conftest import MODEL, client_for, provider_sim, vllm_config
from tests.waiting import eventually

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(params=["vllm", "groq", "fireworks", "together", "openai"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[Running, str]]:
    if request.param == "vllm":
        with running(VllmSim(vllm_config())) as vllm:
            yield vllm, MODEL
    else:
        sim = provider_sim(request.param)
        with running(sim) as provider:
            yield provider, next(iter(sim.profile.models))


def ask(target: tuple[Running, str], fault: str, **kwargs: object) -> object:
    srv, model = target
    client = client_for(srv, **kwargs)
    return client.chat.completions.create(
        model=model, messages=HELLO, extra_headers={FAULT_HEADER: fault}
    )


def test_a_status_fault_raises_the_sdks_typed_exception(server: tuple[Running, str]) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        ask(server, "status=429,retry_after=3")
    assert caught.value.response.headers["retry-after"] == "3"
    with pytest.raises(openai.InternalServerError):
        ask(server, "status=503")


def test_a_reset_before_headers_is_a_connection_error(server: tuple[Running, str]) -> None:
    with pytest.raises(openai.APIConnectionError):
        ask(server, "reset")


def test_a_hang_ends_in_the_clients_timeout(server: tuple[Running, str]) -> None:
    with pytest.raises(openai.APITimeoutError):
        ask(server, "hang", timeout=0.3)


def test_a_disconnect_mid_stream_cuts_the_stream_after_some_chunks(
    server: tuple[Running, str],
) -> None:
    srv, model = server
    client = client_for(srv)
    got: list[object] = []
    with pytest.raises((httpx.HTTPError, openai.APIConnectionError)):
        for chunk in client.chat.completions.create(
            model=model,
            messages=HELLO,
            stream=True,
            extra_headers={FAULT_HEADER: "disconnect_after=3"},
        ):
            got.append(chunk)
    assert 1 <= len(got) <= 3


def test_latency_and_trickle_slow_the_answer_down(server: tuple[Running, str]) -> None:
    started = time.monotonic()
    ask(server, "latency=0.2")
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    ask(server, "trickle=0.01")
    assert time.monotonic() - started >= 0.05


def test_a_fault_schedule_set_at_runtime_hits_every_second_request() -> None:
    with running(provider_sim("fireworks")) as srv:
        httpx.put(f"{srv.base_url}/_sim/faults", json=["status=503,every=2"]).raise_for_status()
        client = client_for(srv)
        outcomes = []
        for _ in range(4):
            try:
                client.chat.completions.create(
                    model="accounts/fireworks/models/gpt-oss-120b", messages=HELLO
                )
                outcomes.append("ok")
            except openai.InternalServerError:
                outcomes.append("503")
        httpx.delete(f"{srv.base_url}/_sim/faults").raise_for_status()
    assert outcomes == ["ok", "503", "ok", "503"]


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def test_the_command_line_serves_a_simulator_on_a_pod_style_loopback_ip() -> None:
    host = "127.1.1.1"
    port = free_port(host)
    command = [
        sys.executable,
        "-m",
        "gptoss_sim",
        "vllm",
        "--host",
        host,
        "--port",
        str(port),
        "--startup-seconds",
        "0",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"http://{host}:{port}/health").status_code == 200
            except httpx.TransportError:
                return False

        eventually(healthy, timeout=20, what="the simulator's /health")
        client = openai.OpenAI(base_url=f"http://{host}:{port}/v1", api_key="x", max_retries=0)
        assert client.models.list().data[0].id == MODEL
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_command_line_fault_rules_become_the_simulators_schedule() -> None:
    args = cli.parser().parse_args(["groq", "--fault", "status=503,every=2", "--fault", "reset"])
    sim = cli.build(args)
    assert isinstance(sim, ProviderSim)
    assert [rule.fault.status for rule in sim.faults.schedule.rules] == [503, None]
    assert sim.api_prefix == "/openai/v1"
