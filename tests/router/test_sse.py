"""Splitting server-sent events across arbitrary chunk boundaries."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from gptoss_router.openai.sse import EventSplitter, event_data, event_name, is_done

# What a line's value may hold: anything but a line end (JSON never has a raw one).
_VALUE_CHARS = string.ascii_letters + string.digits + ' {}[]":,\\é'


def test_events_split_across_chunks_come_out_whole() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b'data: {"a"') == []
    assert splitter.feed(b":1}\n\ndata: [DO") == [b'data: {"a":1}\n\n']
    assert splitter.feed(b"NE]\n\n") == [b"data: [DONE]\n\n"]
    assert splitter.pending == b""


def test_crlf_line_endings_are_understood() -> None:
    assert EventSplitter().feed(b"data: x\r\n\r\n") == [b"data: x\n\n"]


def test_the_data_and_name_of_a_typed_event_are_read() -> None:
    event = b"event: response.created\ndata: {}\n\n"
    assert (event_name(event), event_data(event)) == (b"response.created", b"{}")


def test_a_read_that_ends_between_the_cr_and_lf_of_a_blank_line_keeps_the_events_apart() -> None:
    stream = b'data: {"a": 1}\r\n\r\ndata: {"b": 2}\r\n\r\ndata: [DONE]\r\n\r\n'
    cut = stream.index(b"\r\n\r\n") + 3  # after "\r\n\r", before its "\n"
    splitter = EventSplitter()
    events = splitter.feed(stream[:cut]) + splitter.feed(stream[cut:])
    assert [event_data(e) for e in events] == [b'{"a": 1}', b'{"b": 2}', b"[DONE]"]


def test_lone_cr_line_endings_are_understood() -> None:
    assert EventSplitter().feed(b"event: x\rdata: 1\r\r") == [b"event: x\ndata: 1\n\n"]


def test_only_an_event_whose_data_is_exactly_done_ends_a_stream() -> None:
    text = b'data: {"choices":[{"delta":{"content":"read until data: [DONE]"}}]}\n\n'
    assert [is_done(e) for e in EventSplitter().feed(text + b"data:[DONE]\n\n")] == [False, True]
    assert is_done(b"data: [DONE]\n\n") and not is_done(b"data: [DONE] \n\n")


# Lines of a stream: a field and its value, or a comment; events end in a blank line.
_lines = st.lists(
    st.tuples(st.sampled_from(["data", "event", "id", ""]), st.text(alphabet=_VALUE_CHARS)),
    min_size=1,
    max_size=4,
)


@given(
    events=st.lists(_lines, min_size=1, max_size=6),
    ending=st.sampled_from([b"\r\n", b"\n", b"\r"]),
    cuts=st.lists(st.integers(min_value=0), max_size=12),
)
def test_splitting_a_stream_anywhere_yields_the_same_events(
    events: list[list[tuple[str, str]]], ending: bytes, cuts: list[int]
) -> None:
    stream = b"".join(
        b"".join(f"{name}: {value}".encode() + ending for name, value in lines) + ending
        for lines in events
    )
    expected = [
        b"".join(f"{name}: {value}".encode() + b"\n" for name, value in lines) + b"\n"
        for lines in events
    ]
    at = sorted({cut % (len(stream) + 1) for cut in cuts})
    pieces = [stream[start:end] for start, end in zip([0, *at], [*at, len(stream)], strict=True)]
    splitter = EventSplitter()
    assert [e for piece in pieces for e in splitter.feed(piece)] == expected
    assert splitter.pending == b""


@given(lines=_lines)
def test_an_events_data_is_its_data_lines_joined_however_many_it_has(
    lines: list[tuple[str, str]],
) -> None:
    event = b"".join(f"{name}: {value}".encode() + b"\n" for name, value in lines) + b"\n"
    values = [value.encode() for name, value in lines if name == "data"]
    assert event_data(event) == (b"\n".join(values) if values else None)
