"""The field sets of vLLM's OpenAI-compatible protocol models, read from ``data/protocol-*.json``.

Dumped by ``vllmspec/dump.py`` from the pydantic models' ``model_fields`` (aliases included;
``required`` are the fields without a default). The models live in
``vllm/entrypoints/openai/{chat_completion,completion,responses}/protocol.py`` in both versions,
and in ``vllm/entrypoints/openai/engine/protocol.py`` (0.17) or
``vllm/entrypoints/serve/engine/protocol.py`` and ``vllm/entrypoints/generate/base/protocol.py``
(0.32) for errors, models, usage, deltas and tool calls; each model's ``module`` says which.

``responses_stream_events`` maps each Responses API streaming event class that vLLM's code names
(``vllm/entrypoints/openai/responses/``) to the ``type`` it carries on the wire, e.g.
``ResponseCompletedEvent`` -> ``"response.completed"``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gptoss_vllmspec.spec import read_data
from gptoss_vllmspec.versions import PINNED_VERSION


@dataclass(frozen=True)
class ProtocolModel:
    """One pydantic model of vLLM's protocol: where it is defined, its fields, the required ones."""

    name: str
    module: str
    fields: frozenset[str]
    required: frozenset[str]


@dataclass(frozen=True)
class Protocol:
    """Everything dumped about one vLLM version's protocol."""

    version: str
    models: Mapping[str, ProtocolModel]
    responses_stream_events: Mapping[str, str]

    @property
    def responses_stream_event_types(self) -> frozenset[str]:
        """The ``type`` values of the Responses stream events vLLM emits."""
        return frozenset(self.responses_stream_events.values())


@functools.cache
def load_protocol_data(version: str = PINNED_VERSION) -> Protocol:
    """The dumped protocol of ``version`` (``FileNotFoundError`` if there is none)."""
    raw = read_data(f"protocol-{version}.json")
    models = {
        name: ProtocolModel(
            name=name,
            module=model["module"],
            fields=frozenset(model["fields"]),
            required=frozenset(model["required"]),
        )
        for name, model in raw["models"].items()
    }
    return Protocol(
        version=raw["vllm_version"],
        models=MappingProxyType(models),
        responses_stream_events=MappingProxyType(dict(raw["responses_stream_events"])),
    )


def load_protocol(version: str = PINNED_VERSION) -> Mapping[str, ProtocolModel]:
    """vLLM's protocol models of ``version``, by class name (``"ChatCompletionResponse"``)."""
    return load_protocol_data(version).models


def responses_stream_event_types(version: str = PINNED_VERSION) -> frozenset[str]:
    """The ``type`` values of the Responses API stream events vLLM ``version`` emits."""
    return load_protocol_data(version).responses_stream_event_types
