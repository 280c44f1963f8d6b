"""LoRA adapters in the vLLM simulator, as vLLM 0.17.0 serves them.

What vLLM does (paths inside the wheel, docs/sources.md "vLLM LoRA"):

- ``--enable-lora`` turns adapters on; ``--max-loras`` (default 1) is how many distinct
  adapters one batch may hold, ``--max-lora-rank`` (default 16, one of 1, 8, 16, 32, 64, 128,
  256, 320, 512) the largest rank any adapter may have (``vllm/config/lora.py``).
- ``--lora-modules name=path`` (or JSON ``{"name", "path", "base_model_name"}``) are loaded at
  startup; one that fails to load stops the server (``init_static_loras`` raises,
  ``vllm/entrypoints/openai/models/serving.py``).
- With ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=1`` the server also has ``POST /v1/load_lora_adapter``
  and ``POST /v1/unload_lora_adapter`` (``vllm/entrypoints/serve/lora/api_router.py``): 200 with
  a plain-text "Success: ..." body, or vLLM's error envelope: 400 without a name or path, 400 for
  a name already loaded (unless ``load_inplace``), 404 "No adapter found" for a path with no
  adapter, 500 with the engine's message for an adapter it cannot take (a rank above
  ``--max-lora-rank``: "LoRA rank R is greater than max_lora_rank M."), 404 to unload an unknown
  name. Without the variable those routes do not exist (404).
- A request's ``model`` may name a loaded adapter; any other name that is not the served
  model is a 404 ``The model `X` does not exist.`` (``_check_model``).
- ``/v1/models`` lists each adapter after the base model: ``id`` its name, ``root`` its path,
  ``parent`` the base model's served name (``show_available_models``).
- The scheduler runs at most ``--max-loras`` distinct adapters in one step; a waiting request
  for another adapter is skipped and keeps its place (``vllm/v1/core/sched/scheduler.py``;
  ``gptoss_sim.scheduler.step``).
- ``vllm:lora_requests_info`` (gauge, labels ``max_lora``, ``running_lora_adapters``,
  ``waiting_lora_adapters``, comma-joined names; value the time it was set, every step) is how a
  scraper sees which adapters are busy (``vllm/v1/metrics/loggers.py``).

- A path that is neither absolute nor found locally is a Hugging Face repository id, which vLLM
  downloads (``get_adapter_absolute_path``, ``vllm/lora/utils.py``). With ``HF_HUB_OFFLINE``
  set the hub makes no call and the download fails (``LocalEntryNotFoundError``); vLLM then tries
  the id as a path and finds nothing: "No adapter found" (``vllm/lora/worker_manager.py``,
  ``_load_adapter``, whose comment names offline mode), a 404 at run time, and a server that
  stops at startup for a ``--lora-modules`` entry.

An adapter's rank is read from its ``adapter_config.json`` (``r``), as vLLM's ``PEFTHelper``
reads it; a path that is not a local directory (an absolute path inside the pod, a Hugging Face
id the hub may serve) is taken as an adapter of rank ``--max-lora-rank``'s default that fits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptoss_sim.errors import SimError

# vllm/config/lora.py MaxLoRARanks.
MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
DEFAULT_MAX_LORA_RANK = 16
RUNTIME_UPDATING_ENV = "VLLM_ALLOW_RUNTIME_LORA_UPDATING"


@dataclass(frozen=True)
class LoraModule:
    """One ``--lora-modules`` entry (vLLM's ``LoRAModulePath``)."""

    name: str
    path: str
    base_model_name: str | None = None


@dataclass(frozen=True)
class LoraConfig:
    """vLLM's LoRA flags and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING``."""

    enabled: bool = False
    max_loras: int = 1
    max_lora_rank: int = DEFAULT_MAX_LORA_RANK
    modules: tuple[LoraModule, ...] = ()
    runtime_updating: bool = False
    hub_offline: bool = False  # HF_HUB_OFFLINE: a Hugging Face id cannot be downloaded

    def __post_init__(self) -> None:
        if self.max_lora_rank not in MAX_LORA_RANKS:
            raise ValueError(
                f"max_lora_rank ({self.max_lora_rank}) must be one of {list(MAX_LORA_RANKS)}"
            )
        if self.max_loras < 1:
            raise ValueError(f"max_loras ({self.max_loras}) must be >= 1")


def parse_module(text: str) -> LoraModule:
    """One ``--lora-modules`` value: ``name=path`` or a JSON object
    (``vllm/entrypoints/openai/cli_args.py`` ``LoRAParserAction``)."""
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        if not isinstance(data, dict) or "name" not in data or "path" not in data:
            raise ValueError(f"Invalid JSON format for --lora-modules: {text}")
        base = data.get("base_model_name")
        return LoraModule(str(data["name"]), str(data["path"]), str(base) if base else None)
    name, sep, path = text.partition("=")
    if not sep:
        raise ValueError(f"Invalid format for --lora-modules: {text}")
    return LoraModule(name, path)


def from_hub(path: str) -> bool:
    """Whether vLLM takes ``path`` for a Hugging Face repository id to download: not absolute,
    not under ``~``, and not found from the working directory (``get_adapter_absolute_path``)."""
    return not (path.startswith(("/", "~")) or Path(path).exists())


def adapter_rank(path: str) -> int | None:
    """The rank in ``path``'s ``adapter_config.json``; None when ``path`` is not a local
    directory. FileNotFoundError when it is one without a readable adapter config."""
    directory = Path(path)
    if not directory.is_dir():
        return None
    try:
        data: Any = json.loads((directory / "adapter_config.json").read_text())
    except (OSError, ValueError):
        raise FileNotFoundError(path) from None
    rank = data.get("r") if isinstance(data, dict) else None
    if not isinstance(rank, int):
        raise FileNotFoundError(path)
    return rank


@dataclass
class LoadedAdapter:
    name: str
    path: str
    parent: str


@dataclass
class LoraRegistry:
    """The adapters one simulated vLLM server holds (``OpenAIServingModels.lora_requests``)."""

    config: LoraConfig
    # The served names (--served-model-name); the first is every adapter's default parent.
    base_models: tuple[str, ...]
    adapters: dict[str, LoadedAdapter] = field(default_factory=dict)

    def names(self) -> tuple[str, ...]:
        return tuple(self.adapters)

    def load_static(self) -> None:
        """``--lora-modules`` at startup: ValueError (the server stops) on the first failure."""
        for module in self.config.modules:
            try:
                self.load(module.name, module.path, base_model_name=module.base_model_name)
            except SimError as error:
                raise ValueError(error.message) from None

    def load(
        self,
        name: str,
        path: str,
        *,
        load_inplace: bool = False,
        base_model_name: str | None = None,
    ) -> str:
        if not self.config.enabled:
            # The engine refuses adapters without --enable-lora (the worker's LoRA mixin).
            raise SimError(
                500,
                "LoRA is not enabled. Use --enable-lora to enable LoRA.",
                type_="InternalServerError",
            )
        if not name or not path:
            raise SimError(
                400,
                "Both 'lora_name' and 'lora_path' must be provided.",
                type_="InvalidUserInput",
            )
        if not load_inplace and name in self.adapters:
            raise SimError(
                400,
                f"The lora adapter '{name}' has already been loaded. If you want to load the"
                " adapter in place, set 'load_inplace' to True.",
                type_="InvalidUserInput",
            )
        try:
            if self.config.hub_offline and from_hub(path):
                raise FileNotFoundError(path)
            rank = adapter_rank(path)
        except FileNotFoundError:
            raise SimError(
                404,
                f"Loading lora {name} failed: No adapter found for {path}",
                type_="NotFoundError",
            ) from None
        if rank is not None and rank > self.config.max_lora_rank:
            raise SimError(
                500,
                f"LoRA rank {rank} is greater than max_lora_rank {self.config.max_lora_rank}.",
                type_="InternalServerError",
            )
        known = base_model_name is not None and base_model_name in self.base_models
        parent = base_model_name if known and base_model_name else self.base_models[0]
        self.adapters[name] = LoadedAdapter(name, path, parent)
        return f"Success: LoRA adapter '{name}' added successfully."

    def unload(self, name: str) -> str:
        if not name:
            raise SimError(
                400,
                "'lora_name' needs to be provided to unload a LoRA adapter.",
                type_="InvalidUserInput",
            )
        if name not in self.adapters:
            raise SimError(
                404, f"The lora adapter '{name}' cannot be found.", type_="NotFoundError"
            )
        del self.adapters[name]
        return f"Success: LoRA adapter '{name}' removed successfully."

    def cards(self, created: int, permission: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The ``/v1/models`` cards of the loaded adapters (no ``max_model_len``)."""
        return [
            {
                "id": adapter.name,
                "object": "model",
                "created": created,
                "owned_by": "vllm",
                "root": adapter.path,
                "parent": adapter.parent,
                "max_model_len": None,
                "permission": [dict(permission)],
            }
            for adapter in self.adapters.values()
        ]
