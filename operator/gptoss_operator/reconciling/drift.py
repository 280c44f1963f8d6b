"""Whether a child must be applied again (pure): the operator writes only when something it
owns would change, so a restart or a resync of a settled CR makes no writes at all.

A child is applied when it is missing, when what the operator would apply differs from what it
applied last (a hash of the whole desired object, kept in an annotation), or when another
writer has taken over a field the operator sets. Server-side apply records that take-over in
``metadata.managedFields``: an ``Update`` by another manager moves ownership of the fields it
changed to that manager. Fields the operator does not set (a user's annotation, the volume a
claim was bound to) belong to others and never cause a write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

__all__ = ["HASH_ANNOTATION", "needs_apply", "stamp"]

HASH_ANNOTATION = "gptoss.dev/applied-hash"
Path = tuple[str, ...]


def _digest(obj: dict[str, Any]) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stamp(desired: dict[str, Any]) -> dict[str, Any]:
    """``desired`` with the hash annotation of its own content added."""
    meta = desired["metadata"]
    annotations = {**meta.get("annotations", {}), HASH_ANNOTATION: _digest(desired)}
    return {**desired, "metadata": {**meta, "annotations": annotations}}


def _leaves(obj: Any, prefix: Path = ()) -> Iterator[Path]:
    """Paths of the scalar and list fields of a desired object (lists count as one leaf)."""
    if isinstance(obj, dict) and obj:
        for key, value in obj.items():
            yield from _leaves(value, (*prefix, key))
    else:
        yield prefix


def _owned(fields: dict[str, Any], prefix: Path = ()) -> Iterator[Path]:
    """Paths in a managedFields ``fieldsV1`` tree, cut at the first list element."""
    for key, value in fields.items():
        if key == ".":
            continue
        if not key.startswith("f:"):  # k:{...}, v:..., i:N: an element of a list
            yield prefix
            continue
        path = (*prefix, key[2:])
        if isinstance(value, dict) and any(k != "." for k in value):
            yield from _owned(value, path)
        else:
            yield path


def taken_over(live: dict[str, Any], desired: dict[str, Any], manager: str) -> set[Path]:
    """Fields the operator sets that another writer now owns."""
    ours = {p for p in _leaves(desired) if p and p[0] in ("metadata", "spec")}
    ours.discard(("metadata", "name"))
    ours.discard(("metadata", "namespace"))
    theirs: set[Path] = set()
    for entry in live.get("metadata", {}).get("managedFields", []) or []:
        # A status writer owns no spec; a writer through /scale (kubectl scale, an HPA aimed at
        # the Deployment rather than the GptOssDeployment) does own spec.replicas.
        if entry.get("manager") == manager or entry.get("subresource") == "status":
            continue
        theirs.update(_owned(entry.get("fieldsV1", {})))
    return {path for path in theirs if path in ours}


def needs_apply(live: dict[str, Any] | None, stamped: dict[str, Any], manager: str) -> bool:
    """Whether applying ``stamped`` (the output of ``stamp``) would change anything we own."""
    if live is None:
        return True
    applied = live.get("metadata", {}).get("annotations", {}).get(HASH_ANNOTATION)
    if applied != stamped["metadata"]["annotations"][HASH_ANNOTATION]:
        return True
    return bool(taken_over(live, stamped, manager))
