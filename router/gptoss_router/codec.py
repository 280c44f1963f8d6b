"""JSON for what the router writes and reads back itself: stored responses and conversations,
and the stateless requests rebuilt from them, all of which grow with a conversation's length.

orjson encodes about ten times and decodes about twice as fast as the standard library, which
keeps a rehydrated turn's cost low (docs/benchmarks.md §5). It refuses integers beyond 64 bits,
which a client may send and the standard library accepts: those documents fall back to it.
Requests as they arrive are still parsed by the standard library (``openai/inbound.py``), whose
limits the hostile-input tests pin down.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps", "loads"]


def dumps(doc: Any) -> bytes:
    """``doc`` as compact JSON bytes."""
    try:
        return orjson.dumps(doc)
    except TypeError:  # an integer beyond 64 bits, or a type orjson does not know
        return json.dumps(doc, separators=(",", ":")).encode()


def loads(data: bytes) -> Any:
    """The JSON document in ``data`` (``ValueError`` if it is not one)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
