"""The GPU products a ``GptOssDeployment`` can ask for, keyed by the short names users write.

Each product maps to the node label its vendor's labeller publishes, so that pods can be pinned
with a plain node selector:

* NVIDIA GPU Feature Discovery sets ``nvidia.com/gpu.product`` to the name NVML reports (the
  name ``nvidia-smi`` prints) with spaces as dashes, and ``nvidia.com/gpu.memory`` to NVML's
  total memory in MiB per GPU (docs/sources.md, GPU nodes).
* The AMD node labeller sets ``amd.com/gpu.product-name`` (``AMD_Instinct_MI300X_OAM``) and
  ``amd.com/gpu.vram`` (``192G``) (docs/sources.md, GPU nodes).

The memory figures are what the driver reports for each card (``nvidia-smi``'s total, the AMD
labeller's VRAM), the same values the local test cluster's fake nodes carry; sizing uses them
per card, so an H200 is sized with its 141 GB, never as an H100. The ``architecture`` picks the
vLLM recipe (see ``recipes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gptoss_operator.errors import CatalogError

__all__ = ["PRODUCTS", "Architecture", "GpuProduct", "Vendor", "product_named"]

_LARGE_GPU_GIB = 70  # vLLM: device_memory >= 70 * GiB_bytes


class Vendor(StrEnum):
    NVIDIA = "nvidia"
    AMD = "amd"


class Architecture(StrEnum):
    """The GPU generations the vLLM recipe for gpt-oss treats differently."""

    HOPPER = "hopper"
    BLACKWELL = "blackwell"
    AMPERE = "ampere"
    ADA = "ada-lovelace"
    CDNA3 = "cdna3"


@dataclass(frozen=True)
class GpuProduct:
    """One GPU product: the name users write, how nodes are labelled, and its memory."""

    name: str  # what spec.gpu.product accepts
    vendor: Vendor
    label_value: str  # the value of the vendor's product label on the node
    memory_mib: int  # per GPU, as the vendor's labeller reports it
    architecture: Architecture

    @property
    def label_key(self) -> str:
        """The node label that carries the product name."""
        if self.vendor is Vendor.NVIDIA:
            return "nvidia.com/gpu.product"
        return "amd.com/gpu.product-name"

    @property
    def resource_name(self) -> str:
        """The extended resource the vendor's device plugin advertises."""
        return f"{self.vendor.value}.com/gpu"

    @property
    def memory_gib(self) -> float:
        return self.memory_mib / 1024

    @property
    def vllm_default_max_num_seqs(self) -> int:
        """vLLM's ``--max-num-seqs`` when the command line leaves it out: 1024 on a GPU of at
        least 70 GiB whose name lacks "a100", else 256 (vLLM 0.17 ``vllm/engine/arg_utils.py``,
        ``EngineArgs.get_batch_defaults``; the same in 0.32)."""
        large = self.memory_gib >= _LARGE_GPU_GIB and "a100" not in self.label_value.lower()
        return 1024 if large else 256


_NV, _AMD = Vendor.NVIDIA, Vendor.AMD
PRODUCTS: tuple[GpuProduct, ...] = (
    GpuProduct("H100-80GB", _NV, "NVIDIA-H100-80GB-HBM3", 81559, Architecture.HOPPER),
    GpuProduct("A100-80GB", _NV, "NVIDIA-A100-SXM4-80GB", 81920, Architecture.AMPERE),
    GpuProduct("L4", _NV, "NVIDIA-L4", 23034, Architecture.ADA),
    GpuProduct("MI300X", _AMD, "AMD_Instinct_MI300X_OAM", 196608, Architecture.CDNA3),
    GpuProduct("H200", _NV, "NVIDIA-H200", 143771, Architecture.HOPPER),
    GpuProduct("H100-NVL", _NV, "NVIDIA-H100-NVL", 95830, Architecture.HOPPER),
    GpuProduct("H100-PCIe", _NV, "NVIDIA-H100-PCIe", 81559, Architecture.HOPPER),
    GpuProduct("A100-80GB-PCIe", _NV, "NVIDIA-A100-80GB-PCIe", 81920, Architecture.AMPERE),
    GpuProduct("B200", _NV, "NVIDIA-B200", 183359, Architecture.BLACKWELL),
    GpuProduct("MI325X", _AMD, "AMD_Instinct_MI325X_OAM", 262144, Architecture.CDNA3),
)


def product_named(name: str) -> GpuProduct:
    """The product whose short name (``H100-80GB``) or node label value is ``name``."""
    for product in PRODUCTS:
        if name in (product.name, product.label_value):
            return product
    known = ", ".join(p.name for p in PRODUCTS)
    raise CatalogError(f"unknown GPU product {name!r}; known products: {known}")
