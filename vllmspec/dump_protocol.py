"""How ``dump.py`` reads the field sets of vLLM's protocol models and its Responses stream events.

The models are found by class name in every ``protocol.py`` under ``vllm/entrypoints/`` (each must
be defined in exactly one); the stream events are the ``Response...Event`` names vLLM's
``vllm/entrypoints`` source mentions, resolved in those modules or ``openai.types.responses``.
"""

from __future__ import annotations

import contextlib
import importlib
import platform
import re
import types
from pathlib import Path
from typing import Any

PROTOCOL_MODELS = [
    "ChatCompletionRequest",
    "ChatCompletionResponse",
    "ChatCompletionResponseChoice",
    "ChatCompletionStreamResponse",
    "ChatCompletionResponseStreamChoice",
    "ChatCompletionLogProbs",
    "ChatMessage",
    "DeltaMessage",
    "ToolCall",
    "DeltaToolCall",
    "FunctionCall",
    "DeltaFunctionCall",
    "UsageInfo",
    "PromptTokenUsageInfo",
    "CompletionRequest",
    "CompletionResponse",
    "CompletionResponseChoice",
    "CompletionStreamResponse",
    "CompletionResponseStreamChoice",
    "ResponsesRequest",
    "ResponsesResponse",
    "ResponseUsage",
    "InputTokensDetails",
    "OutputTokensDetails",
    "ErrorResponse",
    "ErrorInfo",
    "ModelCard",
    "ModelList",
    "ModelPermission",
]


def _protocol_modules(root: Path) -> list[types.ModuleType]:
    modules = []
    for path in sorted((root / "entrypoints").rglob("protocol.py")):
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        with contextlib.suppress(Exception):
            modules.append(importlib.import_module(name))
    return modules


def _field_set(cls: Any) -> dict[str, Any]:
    fields = cls.model_fields
    names = set(fields)
    names |= {f.alias for f in fields.values() if f.alias}
    return {
        "module": cls.__module__,
        "fields": sorted(names),
        "required": sorted(n for n, f in fields.items() if f.is_required()),
    }


def _stream_event_types(root: Path, modules: list[types.ModuleType]) -> dict[str, str]:
    """Responses stream events vLLM's code names, with the ``type`` each carries on the wire."""
    import openai.types.responses as openai_responses

    names: set[str] = set()
    for path in sorted((root / "entrypoints").rglob("*.py")):
        names |= set(re.findall(r"\bResponse[A-Za-z]*Event\b", path.read_text(encoding="utf-8")))
    events: dict[str, str] = {}
    for name in sorted(names):
        cls = next(
            (getattr(m, name) for m in [*modules, openai_responses] if hasattr(m, name)), None
        )
        field = None if cls is None else getattr(cls, "model_fields", {}).get("type")
        literal = getattr(field, "annotation", None)
        values = getattr(literal, "__args__", ())
        if len(values) == 1 and isinstance(values[0], str):
            events[name] = values[0]
    return events


def dump_protocol() -> dict[str, Any]:
    import vllm

    root = Path(vllm.__file__).parent
    modules = _protocol_modules(root)
    models: dict[str, Any] = {}
    for name in PROTOCOL_MODELS:
        found = {
            m.__name__: getattr(m, name)
            for m in modules
            if getattr(getattr(m, name, None), "__module__", None) == m.__name__
        }
        if len(found) != 1:
            raise RuntimeError(f"{name}: defined in {sorted(found)}; expected one module")
        models[name] = _field_set(next(iter(found.values())))
    events = _stream_event_types(root, modules)
    return {
        "vllm_version": vllm.__version__,
        "produced_by": {"script": "vllmspec/dump.py", "python": platform.python_version()},
        "models": models,
        "responses_stream_events": events,
    }
