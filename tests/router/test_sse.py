"""Splitting server-sent events across arbitrary chunk boundaries."""

from __future__ import annotations

from gptoss_router.openai.sse import EventSplitter, event_data, event_name


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
