"""What the operator process wrote: its completed writes in the API server's audit log, by agent,
verb and resource, and the resyncs its log reports."""

from __future__ import annotations

import collections
import contextlib
import json
import re
from pathlib import Path
from typing import Any

__all__ = ["OPERATOR_AGENTS", "WRITES", "breakdown", "operator_writes", "resync_lines"]

WRITES = {"create", "update", "patch", "delete", "deletecollection"}
OPERATOR_AGENTS = ("gptoss-operator", "kopf")
RESYNC_LINE = re.compile(r"resync: (\d+) GptOssDeployments checked")


def operator_writes(audit: Path, start: int, end: int | None = None) -> list[dict[str, Any]]:
    """The operator's completed writes in the audit log between two byte offsets."""
    with audit.open("rb") as handle:
        handle.seek(start)
        data = handle.read() if end is None else handle.read(end - start)
    out = []
    for line in data.decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if (
                event.get("stage") == "ResponseComplete"
                and event.get("verb") in WRITES
                and str(event.get("userAgent", "")).startswith(OPERATOR_AGENTS)
            ):
                out.append(event)
    return out


def breakdown(events: list[dict[str, Any]]) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    for e in events:
        ref = e.get("objectRef", {})
        what = ref.get("resource", "?") + (
            f"/{ref['subresource']}" if ref.get("subresource") else ""
        )
        agent = str(e.get("userAgent", "")).split("/", 1)[0]
        counts[f"{agent} {e['verb']} {what}"] += 1
    return dict(counts.most_common())


def resync_lines(log: Path) -> list[int]:
    return [int(m.group(1)) for m in RESYNC_LINE.finditer(log.read_text(errors="replace"))]
