"""Which adapter each pod must load or unload, and what a pod's ``/v1/models`` says it serves
(pure).

vLLM lists the base model first (``parent`` null) and then each loaded adapter with ``root`` its
path and ``parent`` the base model's served name (``show_available_models``,
``vllm/entrypoints/openai/models/serving.py``). A pod loads every wanted adapter it does not
list, reloads in place (``load_inplace``) one whose path changed, and unloads every adapter it
lists that is no longer wanted. A pod whose ``/v1/models`` could not be read gets nothing: it is
tried again on the next pass, as is a pod that came up since.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Change", "PodAdapters", "changes", "listed_adapters"]


@dataclass(frozen=True)
class PodAdapters:
    """A ready pod and the adapters its vLLM lists (name -> path); None: not read."""

    pod: str
    url: str  # http://<pod IP>:8000
    loaded: Mapping[str, str] | None


@dataclass(frozen=True)
class Change:
    """One call to make on one pod."""

    pod: str
    url: str
    op: Literal["load", "unload"]
    adapter: str
    path: str = ""
    inplace: bool = False

    def body(self) -> dict[str, Any]:
        """The JSON body vLLM's ``LoadLoRAAdapterRequest`` / ``UnloadLoRAAdapterRequest`` take."""
        if self.op == "unload":
            return {"lora_name": self.adapter}
        body: dict[str, Any] = {"lora_name": self.adapter, "lora_path": self.path}
        if self.inplace:
            body["load_inplace"] = True
        return body


def changes(wanted: Mapping[str, str], pods: Sequence[PodAdapters]) -> list[Change]:
    """The loads and unloads that make each readable pod serve exactly ``wanted``
    (adapter -> path), unloads first so that a slot is free before a load needs it."""
    out: list[Change] = []
    for pod in pods:
        if pod.loaded is None:
            continue
        out += [
            Change(pod.pod, pod.url, "unload", name) for name in pod.loaded if name not in wanted
        ]
        out += [
            Change(pod.pod, pod.url, "load", name, path, inplace=name in pod.loaded)
            for name, path in wanted.items()
            if pod.loaded.get(name) != path
        ]
    return out


def listed_adapters(body: Any) -> dict[str, str] | None:
    """The adapters in a ``/v1/models`` answer (id -> root, in its order); None when the body
    is not a model list."""
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
        return None
    found: dict[str, str] = {}
    for card in body["data"]:
        if isinstance(card, Mapping) and card.get("parent") and isinstance(card.get("id"), str):
            found[card["id"]] = str(card.get("root") or "")
    return found
