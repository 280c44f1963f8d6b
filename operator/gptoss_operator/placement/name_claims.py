"""Model names no two GptOssDeployments may serve (pure): a fine-tune's name and its adapters'.

The CR created first keeps a name; a later CR claiming it is refused (``ServedNameTaken``). The
router applies the same order (``gptoss_router.watch.cluster_state``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.placement.adapters import custom_weights, served_model_name

__all__ = ["claimed_names", "name_taken"]


def claimed_names(cr_name: str, spec: GptOssDeploymentSpec) -> list[tuple[str, str]]:
    """``(field, name)`` for each model name the CR serves that no other CR may serve too: a
    fine-tune's name and its adapters' (base weights under the base name pool, so they claim
    nothing)."""
    claims: list[tuple[str, str]] = []
    served = served_model_name(cr_name, spec)
    if served != spec.model or custom_weights(spec):
        field = (
            "spec.servedModelName"
            if spec.served_model_name
            else "metadata.name (custom weights in spec.source)"
        )
        claims.append((field, served))
    claims += [
        (f"spec.adapters[{index}].name", adapter.name)
        for index, adapter in enumerate(spec.adapters or [])
    ]
    return claims


def name_taken(
    cr: Mapping[str, Any], spec: GptOssDeploymentSpec, others: Iterable[Mapping[str, Any]]
) -> str | None:
    """Why ``cr`` may not serve one of its names: an older GptOssDeployment (``others``, as the
    API returns them) serves it already; None when every name is its own. Older means created
    first, then by namespace and name, the order the router follows too."""
    meta = cr["metadata"]
    me = (str(meta.get("creationTimestamp", "")), str(meta["namespace"]), str(meta["name"]))
    mine = claimed_names(me[2], spec)
    if not mine:
        return None
    for other in sorted(others, key=_age):
        age = _age(other)
        if age >= me:
            break
        try:
            theirs = GptOssDeploymentSpec.model_validate(other.get("spec") or {})
        except ValueError:
            continue
        taken = {name for _, name in claimed_names(age[2], theirs)}
        taken.add(served_model_name(age[2], theirs))
        for field, name in mine:
            if name in taken:
                return (
                    f"{field} {name!r} is already served by GptOssDeployment {age[1]}/{age[2]}, "
                    "created first: the router serves that name from it only; choose another "
                    "name"
                )
    return None


def _age(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return (
        str(meta.get("creationTimestamp", "")),
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
    )
