"""The stream the mending benchmark times is one vLLM 0.17 sends, and mending it changes what
0.17 gets wrong: a benchmark of a stream that needs no mending would time the fast path only."""

from __future__ import annotations

import json

import pytest
from bench.vllm_stream_fix import answer, main

from gptoss_router.openai.sse import EventSplitter
from gptoss_router.openai.vllm_stream import StreamFix


def _docs(events: list[bytes]) -> list[dict[str, object]]:
    return [json.loads(e[e.index(b"data: ") + 6 :]) for e in events]


def test_the_benchmarked_answer_numbers_its_message_from_1_and_mended_from_0() -> None:
    events = answer(10)
    fix = StreamFix()
    mended = [fix.fix(e) for e in EventSplitter().feed(b"".join(events))]
    text = "response.output_text.delta"
    assert {d["content_index"] for d in _docs(events) if d["type"] == text} == {1}
    assert {d["content_index"] for d in _docs(mended) if d["type"] == text} == {0}
    final = _docs(mended)[-1]["response"]
    assert isinstance(final, dict)
    assert final["output"][-1]["call_id"] == "call_1"
    assert len(mended) == len(events) == 18


def test_the_benchmark_prints_both_paths_and_what_mending_adds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["--deltas", "20", "--rounds", "2"])
    out = capsys.readouterr().out
    assert "split only" in out and "split and mend" in out and "mending adds" in out
