"""LoRA adapters on the vLLM simulator, as vLLM 0.17.0 serves them (``gptoss_sim.lora``):
``--lora-modules`` at startup, ``/v1/load_lora_adapter`` with
``VLLM_ALLOW_RUNTIME_LORA_UPDATING``, adapters in ``/v1/models`` with their ``parent``, 404 for
an unknown name, the rank limit, and ``vllm:lora_requests_info``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gptoss_sim import Running, VllmSim, running
from gptoss_sim.capacity import CapacityParams
from gptoss_sim.cli import build, parser
from gptoss_sim.engine_state import EngineState, Seq, add_request
from gptoss_sim.lora import LoraConfig, LoraModule, parse_module
from gptoss_sim.scheduler import step
from tests.sim.conftest import FAST, MODEL, vllm_config

PROMPT = [{"role": "user", "content": "Which adapter answers?"}]
RUNTIME = "VLLM_ALLOW_RUNTIME_LORA_UPDATING"


def adapter_dir(root: Path, name: str, rank: int) -> str:
    """A PEFT adapter directory as vLLM reads it: adapter_config.json with its rank ``r``."""
    path = root / name
    path.mkdir()
    (path / "adapter_config.json").write_text(json.dumps({"r": rank, "lora_alpha": 2 * rank}))
    return str(path)


@pytest.fixture
def two_adapters(tmp_path: Path) -> Iterator[tuple[Running, dict[str, str]]]:
    paths = {"sql": adapter_dir(tmp_path, "sql", 16), "legal": adapter_dir(tmp_path, "legal", 8)}
    lora = LoraConfig(
        enabled=True,
        max_loras=2,
        max_lora_rank=16,
        modules=tuple(LoraModule(name, path) for name, path in paths.items()),
        runtime_updating=True,
    )
    with running(VllmSim(vllm_config(lora=lora))) as server:
        yield server, paths


def chat(server: Running, model: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/v1/chat/completions",
        json={"model": model, "messages": PROMPT},
        timeout=10,
    )


def test_models_lists_each_startup_adapter_after_the_base_with_its_parent_and_path(
    two_adapters: tuple[Running, dict[str, str]],
) -> None:
    server, paths = two_adapters
    cards = httpx.get(f"{server.base_url}/v1/models").json()["data"]
    assert [c["id"] for c in cards] == [MODEL, "sql", "legal"]
    assert cards[0]["parent"] is None and cards[0]["max_model_len"] == 8192
    for card in cards[1:]:
        assert card["parent"] == MODEL
        assert card["root"] == paths[card["id"]]
        assert card["max_model_len"] is None


def test_a_request_for_a_loaded_adapter_is_served_under_its_name(
    two_adapters: tuple[Running, dict[str, str]],
) -> None:
    server, _ = two_adapters
    reply = chat(server, "sql")
    assert reply.status_code == 200
    assert reply.json()["model"] == "sql"


def test_an_unknown_adapter_is_a_404_naming_the_model(
    two_adapters: tuple[Running, dict[str, str]],
) -> None:
    server, _ = two_adapters
    reply = chat(server, "finance")
    assert reply.status_code == 404
    error = reply.json()["error"]
    assert error["message"] == "The model `finance` does not exist."
    assert error["type"] == "NotFoundError" and error["param"] == "model"


def test_runtime_load_and_unload_change_what_the_server_answers_to(
    two_adapters: tuple[Running, dict[str, str]], tmp_path: Path
) -> None:
    server, _ = two_adapters
    path = adapter_dir(tmp_path, "finance", 8)
    loaded = httpx.post(
        f"{server.base_url}/v1/load_lora_adapter",
        json={"lora_name": "finance", "lora_path": path},
    )
    assert loaded.status_code == 200
    assert loaded.text == "Success: LoRA adapter 'finance' added successfully."
    assert chat(server, "finance").status_code == 200
    again = httpx.post(
        f"{server.base_url}/v1/load_lora_adapter",
        json={"lora_name": "finance", "lora_path": path},
    )
    assert again.status_code == 400
    assert "has already been loaded" in again.json()["error"]["message"]
    unloaded = httpx.post(
        f"{server.base_url}/v1/unload_lora_adapter", json={"lora_name": "finance"}
    )
    assert unloaded.text == "Success: LoRA adapter 'finance' removed successfully."
    assert chat(server, "finance").status_code == 404
    missing = httpx.post(f"{server.base_url}/v1/unload_lora_adapter", json={"lora_name": "finance"})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "The lora adapter 'finance' cannot be found."


def test_an_adapter_above_max_lora_rank_is_refused_with_both_ranks(
    two_adapters: tuple[Running, dict[str, str]], tmp_path: Path
) -> None:
    server, _ = two_adapters
    path = adapter_dir(tmp_path, "wide", 64)
    refused = httpx.post(
        f"{server.base_url}/v1/load_lora_adapter", json={"lora_name": "wide", "lora_path": path}
    )
    assert refused.status_code == 500
    assert refused.json()["error"]["message"] == "LoRA rank 64 is greater than max_lora_rank 16."
    names = [c["id"] for c in httpx.get(f"{server.base_url}/v1/models").json()["data"]]
    assert "wide" not in names


def test_a_path_without_an_adapter_is_a_404_naming_name_and_path(
    two_adapters: tuple[Running, dict[str, str]], tmp_path: Path
) -> None:
    server, _ = two_adapters
    refused = httpx.post(
        f"{server.base_url}/v1/load_lora_adapter",
        json={"lora_name": "empty", "lora_path": str(tmp_path)},
    )
    assert refused.status_code == 404
    message = refused.json()["error"]["message"]
    assert message == f"Loading lora empty failed: No adapter found for {tmp_path}"


def test_with_the_hub_offline_a_hugging_face_id_is_a_404_and_a_local_path_still_loads(
    tmp_path: Path,
) -> None:
    """vLLM downloads an id that is not a path; HF_HUB_OFFLINE makes the download fail, and the
    id, tried as a path, holds no adapter. Absolute paths (a mounted claim) never go to the hub."""
    sim = build(
        parser().parse_args(["vllm", "--enable-lora", "--max-loras", "2"]),
        {RUNTIME: "1", "HF_HUB_OFFLINE": "1"},
    )
    assert isinstance(sim, VllmSim)
    lora = sim.config.lora
    assert lora.hub_offline and lora.runtime_updating
    local = adapter_dir(tmp_path, "sql", 8)
    with running(VllmSim(vllm_config(lora=lora))) as server:
        load = f"{server.base_url}/v1/load_lora_adapter"
        refused = httpx.post(load, json={"lora_name": "hub", "lora_path": "acme/sql-lora"})
        assert refused.status_code == 404
        said = refused.json()["error"]["message"]
        assert said == "Loading lora hub failed: No adapter found for acme/sql-lora"
        assert httpx.post(load, json={"lora_name": "sql", "lora_path": local}).status_code == 200
    online = build(parser().parse_args(["vllm", "--enable-lora"]), {RUNTIME: "1"})
    assert isinstance(online, VllmSim) and not online.config.lora.hub_offline


@pytest.mark.parametrize(
    ("env", "offline"),
    [
        ({"HF_HUB_OFFLINE": "1"}, True),
        ({"HF_HUB_OFFLINE": "yes"}, True),
        ({"TRANSFORMERS_OFFLINE": "ON"}, True),
        ({"HF_HUB_OFFLINE": "0"}, False),
        ({}, False),
    ],
)
def test_the_hub_is_offline_for_what_huggingface_hub_reads_as_true(
    env: dict[str, str], offline: bool
) -> None:
    sim = build(parser().parse_args(["vllm", "--enable-lora"]), env)
    assert isinstance(sim, VllmSim)
    assert sim.config.lora.hub_offline is offline


def test_a_startup_hugging_face_adapter_with_the_hub_offline_stops_the_server() -> None:
    command = [sys.executable, "-m", "gptoss_sim", "vllm", "--port", str(free_port())]
    command += ["--startup-seconds", "0", "--enable-lora", "--lora-modules", "sql=acme/sql-lora"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode != 0
    assert "Loading lora sql failed: No adapter found for acme/sql-lora" in done.stderr


def test_without_runtime_updating_the_load_route_does_not_exist(tmp_path: Path) -> None:
    lora = LoraConfig(enabled=True, modules=(LoraModule("sql", adapter_dir(tmp_path, "s", 8)),))
    with running(VllmSim(vllm_config(lora=lora))) as server:
        refused = httpx.post(
            f"{server.base_url}/v1/load_lora_adapter",
            json={"lora_name": "x", "lora_path": str(tmp_path)},
        )
        assert refused.status_code == 404
        assert chat(server, "sql").status_code == 200


def lora_series(server: Running) -> list[dict[str, str]]:
    text = httpx.get(f"{server.base_url}/metrics").text
    return [
        dict(sample.labels)
        for family in text_string_to_metric_families(text)
        if family.name == "vllm:lora_requests_info"
        for sample in family.samples
    ]


def test_lora_requests_info_names_the_adapter_while_its_request_runs(
    two_adapters: tuple[Running, dict[str, str]],
) -> None:
    server, _ = two_adapters
    assert chat(server, "legal").status_code == 200
    series = lora_series(server)
    assert {"max_lora": "2", "running_lora_adapters": "legal", "waiting_lora_adapters": ""} in (
        series
    )
    # Back to idle once it finished.
    assert {"max_lora": "2", "running_lora_adapters": "", "waiting_lora_adapters": ""} in series


def test_without_enable_lora_there_is_no_lora_metric_and_adapters_are_unknown() -> None:
    with running(VllmSim(vllm_config())) as server:
        assert lora_series(server) == []
        text = httpx.get(f"{server.base_url}/metrics").text
        assert "vllm:lora_requests_info" not in text
        assert chat(server, "sql").status_code == 404


def test_lora_modules_parse_as_vllm_parses_them() -> None:
    assert parse_module("sql=/adapters/sql") == LoraModule("sql", "/adapters/sql")
    module = parse_module('{"name": "sql", "path": "/a", "base_model_name": "ft"}')
    assert module == LoraModule("sql", "/a", "ft")
    with pytest.raises(ValueError, match="Invalid format for --lora-modules: sql"):
        parse_module("sql")


def test_the_command_line_takes_vllms_lora_flags_and_environment(tmp_path: Path) -> None:
    path = adapter_dir(tmp_path, "sql", 32)
    flags = ["--enable-lora", "--max-loras", "3", "--max-lora-rank", "32"]
    args = parser().parse_args(["vllm", *flags, "--lora-modules", f"sql={path}"])
    sim = build(args, {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "1"})
    assert isinstance(sim, VllmSim)
    lora = sim.config.lora
    assert (lora.enabled, lora.max_loras, lora.max_lora_rank) == (True, 3, 32)
    assert lora.modules == (LoraModule("sql", path),) and lora.runtime_updating
    with pytest.raises(SystemExit):
        parser().parse_args(["vllm", "--max-lora-rank", "24"])


@pytest.mark.parametrize(
    ("value", "on"), [("1", True), ("True", True), (" true ", True), ("0", False), ("yes", False)]
)
def test_runtime_updating_is_on_for_what_vllm_reads_as_true(value: str, on: bool) -> None:
    # vllm/envs.py: os.environ.get(name, "0").strip().lower() in ("1", "true").
    sim = build(parser().parse_args(["vllm", "--enable-lora"]), {RUNTIME: value})
    assert isinstance(sim, VllmSim)
    assert sim.config.lora.runtime_updating is on


def free_port() -> int:
    with socket.socket() as pick:
        pick.bind(("127.0.0.1", 0))
        port: int = pick.getsockname()[1]
    return port


def test_a_startup_adapter_above_max_lora_rank_stops_the_server(tmp_path: Path) -> None:
    path = adapter_dir(tmp_path, "wide", 64)
    command = [sys.executable, "-m", "gptoss_sim", "vllm", "--port", str(free_port())]
    command += ["--startup-seconds", "0", "--enable-lora", "--lora-modules", f"wide={path}"]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=dict(os.environ), check=False
    )
    assert done.returncode != 0
    assert "LoRA rank 64 is greater than max_lora_rank 16." in done.stderr


def test_a_startup_adapter_without_enable_lora_stops_the_server(tmp_path: Path) -> None:
    path = adapter_dir(tmp_path, "sql", 8)
    command = [sys.executable, "-m", "gptoss_sim", "vllm", "--port", str(free_port())]
    command += ["--startup-seconds", "0", "--lora-modules", f"sql={path}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "LoRA is not enabled. Use --enable-lora to enable LoRA." in done.stderr


def test_max_loras_keeps_a_second_adapter_waiting_while_a_first_one_runs() -> None:
    params = CapacityParams(max_num_seqs=8, max_loras=1, step_base_s=0.01, startup_s=0)
    state = EngineState()
    for rid, lora in enumerate(("sql", "legal", "sql", None), start=1):
        state = add_request(state, Seq(rid, 32, 4, arrived_at=0.0, lora=lora))
    stepped = step(state, params)
    assert stepped is not None
    after = stepped.state
    # vLLM's scheduler skips "legal" (a second adapter with --max-loras 1) but runs the next
    # "sql" request and the base-model one; "legal" keeps its place at the head of the queue.
    assert [s.rid for s in after.running] == [1, 3, 4]
    assert [s.lora for s in after.waiting] == ["legal"]
    unlimited = step(state, replace(params, max_loras=None))
    assert unlimited is not None and not unlimited.state.waiting


def test_lora_requests_info_shows_an_adapter_waiting_behind_max_loras(tmp_path: Path) -> None:
    paths = {name: adapter_dir(tmp_path, name, 8) for name in ("sql", "legal")}
    lora = LoraConfig(
        enabled=True,
        max_loras=1,
        modules=tuple(LoraModule(name, path) for name, path in paths.items()),
    )
    slow = replace(FAST, step_base_s=0.01, max_num_seqs=4)
    with running(VllmSim(vllm_config(lora=lora, capacity=slow))) as server:
        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda m: chat(server, m), ["sql", "legal", "sql", "legal"]))
        series = lora_series(server)
    assert [r.status_code for r in replies] == [200] * 4
    assert any(s["waiting_lora_adapters"] for s in series), series
    assert all("," not in s["running_lora_adapters"] for s in series)
    assert {s["max_lora"] for s in series} == {"1"}
