"""What mending a vLLM pod's Responses stream costs the router per event.

    .venv/bin/python bench/vllm_stream_fix.py [--deltas 400] [--rounds 200]

The router relays a pod's native Responses stream event by event; a text delta passes as it
came. For a vLLM pod it first mends each event (``openai/vllm_stream.StreamFix``): content
indexes renumbered per output item, function call ids kept as announced. This times the relay's
own split of the upstream bytes into events alone (the baseline, work every stream does), and
the same with every event mended, over one answer shaped as vLLM 0.17 streams it: a reasoning
item, a message whose parts 0.17 numbers from 1, a function call whose done item has no id, and
a final response with fresh call ids. Both run in this process, interleaved, best of
``--rounds``; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gptoss_router.openai.sse import EventSplitter  # noqa: E402
from gptoss_router.openai.vllm_stream import StreamFix  # noqa: E402


def _event(kind: str, **fields: object) -> bytes:
    doc = {"type": kind, **fields}
    return b"event: " + kind.encode() + b"\ndata: " + json.dumps(doc).encode() + b"\n\n"


def answer(deltas: int) -> list[bytes]:
    """One answer's events as vLLM 0.17 streams them (``deltas`` text deltas in all)."""
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather"}
    events = [
        _event("response.created", response={"id": "resp_1", "output": []}),
        _event("response.output_item.added", output_index=0, item={"type": "reasoning"}),
    ]
    half = deltas // 2
    events += [
        _event("response.reasoning_text.delta", output_index=0, content_index=0, delta="mull ")
        for _ in range(half)
    ]
    events.append(_event("response.output_item.added", output_index=1, item={"type": "message"}))
    events.append(_event("response.content_part.added", output_index=1, content_index=1))
    events += [
        _event("response.output_text.delta", output_index=1, content_index=1, delta="word ")
        for _ in range(deltas - half)
    ]
    events.append(_event("response.output_text.done", output_index=1, content_index=1))
    events.append(_event("response.output_item.added", output_index=2, item=call))
    events.append(_event("response.output_item.done", output_index=2, item={**call, "id": None}))
    rebuilt = {**call, "id": "fc_2", "call_id": "call_2"}
    final = {"id": "resp_1", "output": [{"type": "reasoning"}, {"type": "message"}, rebuilt]}
    events.append(_event("response.completed", response=final))
    return events


def split_only(chunks: list[bytes]) -> int:
    splitter = EventSplitter()
    n = 0
    for chunk in chunks:
        n += len(splitter.feed(chunk))
    return n


def split_and_mend(chunks: list[bytes]) -> int:
    splitter = EventSplitter()
    fix = StreamFix()
    n = 0
    for chunk in chunks:
        for event in splitter.feed(chunk):
            fix.fix(event)
            n += 1
    return n


def _timed(run: Callable[[list[bytes]], int], chunks: list[bytes]) -> float:
    started = time.perf_counter()
    run(chunks)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--deltas", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args(argv)
    chunks = answer(args.deltas)  # as a pod flushes them: one event per chunk
    base, mended = [], []
    for _ in range(args.rounds):  # interleaved, so drift touches both alike
        base.append(_timed(split_only, chunks))
        mended.append(_timed(split_and_mend, chunks))
    events = len(chunks)
    b, m = min(base), min(mended)
    print(f"one answer of {events} events (vLLM 0.17's shape), best of {args.rounds} rounds")
    print(f"{'path':<22}{'us/answer':>11}{'ns/event':>10}{'ratio':>8}")
    print(f"{'split only':<22}{b * 1e6:>11.1f}{b / events * 1e9:>10.0f}{1.0:>8.2f}")
    print(f"{'split and mend':<22}{m * 1e6:>11.1f}{m / events * 1e9:>10.0f}{m / b:>8.2f}")
    added = m - b
    print(f"mending adds {added / events * 1e9:.0f} ns per event, {added * 1e6:.1f} us per answer")


if __name__ == "__main__":
    main()
