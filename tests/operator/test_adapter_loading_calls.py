"""The loader's HTTP seam (``gptoss_operator.loading.pods``) against the vLLM simulator, whose
load and unload routes follow ``vllm/entrypoints/serve/lora/api_router.py``: what a pod lists,
a load and an unload it takes, and vLLM's own message when it refuses one."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from gptoss_operator.loading.decide import Change
from gptoss_operator.loading.pods import apply_change, read_adapters
from gptoss_sim import VllmSim, running
from gptoss_sim.lora import LoraConfig
from tests.sim.conftest import vllm_config


def adapter(root: Path, name: str, rank: int) -> str:
    path = root / name
    path.mkdir()
    (path / "adapter_config.json").write_text(json.dumps({"r": rank}))
    return str(path)


async def test_loads_and_unloads_reach_vllm_and_a_refusal_carries_vllms_message(
    tmp_path: Path,
) -> None:
    lora = LoraConfig(enabled=True, max_loras=2, max_lora_rank=16, runtime_updating=True)
    sql, wide = adapter(tmp_path, "sql", 16), adapter(tmp_path, "wide", 64)
    with running(VllmSim(vllm_config(lora=lora))) as server:
        url = server.base_url.rstrip("/")
        async with httpx.AsyncClient(timeout=5) as http:
            before = await read_adapters(http, url)
            loaded = await apply_change(http, Change("p", url, "load", "sql", sql))
            refused = await apply_change(http, Change("p", url, "load", "wide", wide))
            after_load = await read_adapters(http, url)
            unloaded = await apply_change(http, Change("p", url, "unload", "sql"))
            missing = await apply_change(http, Change("p", url, "unload", "sql"))
            after_unload = await read_adapters(http, url)
    async with httpx.AsyncClient(timeout=1) as http:
        unreachable = await read_adapters(http, url)  # the server has stopped
    assert before == {} and after_load == {"sql": sql} and after_unload == {}
    assert loaded is None and unloaded is None
    assert refused == "500 LoRA rank 64 is greater than max_lora_rank 16."
    assert missing == "404 The lora adapter 'sql' cannot be found."
    assert unreachable is None
