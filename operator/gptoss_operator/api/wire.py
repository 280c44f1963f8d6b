"""The base of every API model and the constrained types the spec and the status share."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic.alias_generators import to_camel

__all__ = [
    "Argument",
    "LabelValue",
    "LoraRank",
    "ModelName",
    "ObjectName",
    "ProductName",
    "ProviderName",
    "ServedName",
    "SpillCondition",
    "Wire",
]

ModelName = Literal["gpt-oss-120b", "gpt-oss-20b"]
ProductName = Literal[
    "H100-80GB",
    "A100-80GB",
    "L4",
    "MI300X",
    "H200",
    "H100-NVL",
    "H100-PCIe",
    "A100-80GB-PCIe",
    "B200",
    "MI325X",
]
SpillCondition = Literal["Saturated", "ScaledToZero", "Unavailable"]
ObjectName = Annotated[
    str, StringConstraints(max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]
LabelValue = Annotated[str, StringConstraints(max_length=63)]
ProviderName = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
Argument = Annotated[str, StringConstraints(max_length=256)]
# A name clients send as ``model``: a fine-tune's or a LoRA adapter's.
ServedName = Annotated[
    str, StringConstraints(max_length=128, pattern=r"^[A-Za-z0-9]([-A-Za-z0-9._/]*[A-Za-z0-9])?$")
]
LoraRank = Literal[1, 8, 16, 32, 64, 128, 256, 320, 512]


class Wire(BaseModel):
    """camelCase on the wire, unknown fields refused, values immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )
