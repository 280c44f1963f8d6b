"""What a stream has generated so far, estimated from its events (pure).

``Generated`` counts it for a stream that ends without its
usage (the client left, the upstream cut it, a gathered attempt failed half way): the bytes of
generated text as streamed (JSON-escaped) in chat ``content``, ``reasoning``,
``reasoning_content``, ``refusal`` and tool-call ``arguments``, completions ``text`` and
Responses ``delta`` events, and the events that carried any. Its estimate of output tokens is
one per 4 of those bytes, and at least one per such event: gpt-oss's tokenizer averages about
4 bytes a token on English prose and 3 to 4 on code, JSON and CJK text, and a backend sends at
least one token in each event (vLLM one per engine step), so the estimate falls short only on
text of very short tokens streamed several to an event.
Sources: docs/sources.md, vLLM (entrypoints/openai chat_completion/serving.py).
"""

from __future__ import annotations

import re

__all__ = ["Generated"]


# The members whose string values are generated text, per route; the value is group 1.
_TEXT = {
    route: re.compile(rb'"(?:' + keys + rb')"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"')
    for route, keys in (
        ("chat", rb"content|reasoning|reasoning_content|refusal|arguments"),
        ("completions", rb"text"),
        ("responses", rb"delta"),
    )
}
_BYTES_PER_TOKEN = 4
_NO_FRAME = 1 << 62


class Generated:
    """What one stream of ``route`` generated so far: feed it every event, whole.

    Most events of a stream differ from the one before only in their text (same id, model,
    choice and key): once an event with one text is found, the next is measured by its length
    if it starts and ends as that one did, and searched only otherwise.
    """

    __slots__ = ("_frame", "_head", "_tail", "_text", "events", "text_bytes", "texts")

    def __init__(self, route: str) -> None:
        self._text = _TEXT.get(route, _TEXT["chat"])
        self._head = b""  # the last event measured, up to its text, and after it
        self._tail = b""
        self._frame = _NO_FRAME  # their length: none yet
        self.events = 0  # events fed
        self.texts = 0  # events that carried generated text
        self.text_bytes = 0

    def measure(self, event: bytes) -> bool:
        """Count one whole event of the stream (from ``EventSplitter``); whether it was
        another text event shaped as the last one: the same bytes before and after its text
        (which, its quotes escaped, cannot hold them), so nothing but its text is new."""
        self.events += 1
        size = len(event) - self._frame
        if size > 0 and event.startswith(self._head) and event.endswith(self._tail):
            self.texts += 1
            self.text_bytes += size
            return True
        self._search(event)
        return False

    def _search(self, event: bytes) -> None:
        """Find the texts of an event shaped otherwise; the next may be shaped like it."""
        found = [m.span(1) for m in self._text.finditer(event) if m.end(1) > m.start(1)]
        if not found:
            return
        self.texts += 1
        self.text_bytes += sum(end - start for start, end in found)
        if len(found) == 1:
            start, end = found[0]
            self._head, self._tail = event[:start], event[end:]
            self._frame = start + len(event) - end

    def add(self, texts: int, text_bytes: int) -> None:
        """Text counted elsewhere (an assembler's), of a stream that did stream."""
        self.events = max(self.events, 1)
        self.texts += texts
        self.text_bytes += text_bytes

    def output_tokens(self) -> int:
        """The output tokens this is an estimate of (module docstring)."""
        return max(self.texts, -(-self.text_bytes // _BYTES_PER_TOKEN))
