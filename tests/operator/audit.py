"""Reading the local API server's audit log (every write, Metadata level) in tests."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

WRITES = {"create", "update", "patch", "delete", "deletecollection"}
CHILDREN = {"deployments", "services", "poddisruptionbudgets", "persistentvolumeclaims", "jobs"}


@dataclass(frozen=True)
class Write:
    verb: str
    user_agent: str
    resource: str
    subresource: str
    namespace: str
    name: str
    received: dt.datetime | None = None  # when the API server received the request

    def __str__(self) -> str:
        target = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {target} {self.namespace}/{self.name} by {self.user_agent}"


def writes_since(log: Path, offset: int) -> list[Write]:
    """The writes recorded in ``log`` after byte ``offset``."""
    with log.open("rb") as stream:
        stream.seek(offset)
        lines = stream.read().decode().splitlines()
    found = []
    for line in lines:
        if not line.strip():
            continue
        event = json.loads(line)
        if event.get("stage") != "ResponseComplete" or event.get("verb") not in WRITES:
            continue
        ref = event.get("objectRef", {})
        found.append(
            Write(
                verb=event["verb"],
                user_agent=event.get("userAgent", ""),
                resource=ref.get("resource", ""),
                subresource=ref.get("subresource", ""),
                namespace=ref.get("namespace", ""),
                name=ref.get("name", ""),
                received=_time(event.get("requestReceivedTimestamp")),
            )
        )
    return found


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
