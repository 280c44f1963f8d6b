"""The least of HTTP/1.1 a benchmark's fake upstream needs: the next whole request in what a
keep-alive connection has sent so far."""

from __future__ import annotations

__all__ = ["next_request"]


def next_request(buffer: bytes) -> tuple[bytes, bytes] | None:
    """``(body, rest)`` of the first whole request in ``buffer``; None until it has all come."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    length = 0
    for line in buffer[:end].decode("latin-1").lower().split("\r\n"):
        if line.startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    if len(buffer) < end + 4 + length:
        return None
    return buffer[end + 4 : end + 4 + length], buffer[end + 4 + length :]
