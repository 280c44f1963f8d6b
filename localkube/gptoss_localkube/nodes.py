"""The catalog of fake GPU nodes: Node objects shaped like a real cluster's GPU nodes.

Label names and value formats follow what the GPU vendors' node labellers publish:

* NVIDIA GPU Feature Discovery (NVIDIA/k8s-device-plugin, docs/gpu-feature-discovery/README.md):
  ``nvidia.com/gpu.product`` (marketing name, spaces as dashes), ``nvidia.com/gpu.memory``
  (MiB per GPU), ``nvidia.com/gpu.count``, ``nvidia.com/gpu.family``,
  ``nvidia.com/gpu.compute.major``/``.minor``, ``nvidia.com/gpu.machine``,
  ``nvidia.com/cuda.driver.major``/``.minor``/``.rev``,
  ``nvidia.com/cuda.runtime.major``/``.minor``.
  ``nvidia.com/gpu.present`` is set by the GPU operator's node feature rules.
* AMD GPU node labeller (ROCm/k8s-device-plugin, cmd/k8s-node-labeller):
  ``amd.com/gpu.product-name``, ``amd.com/gpu.vram``, ``amd.com/gpu.family``,
  ``amd.com/gpu.device-id``, ``amd.com/gpu.cu-count``.
* Extended resources ``nvidia.com/gpu`` and ``amd.com/gpu`` come from the vendors' device plugins;
  GPU node pools are usually tainted ``<resource>=present:NoSchedule`` (the key equal to the
  resource name is what the ExtendedResourceToleration admission plugin expects).

Every node carries the ``kwok.x-k8s.io/node: fake`` annotation so that KWOK manages it, and a
``/24`` ``podCIDR`` inside the cluster's pod network, from which KWOK hands out pod IPs.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CATALOG", "GpuModel", "NodeSpec", "build_node", "build_nodes", "pod_cidr_for"]

KWOK_ANNOTATION = "kwok.x-k8s.io/node"


@dataclass(frozen=True)
class GpuModel:
    """One GPU product as a node labeller would describe it."""

    vendor: str  # "nvidia" or "amd"
    product: str  # the product label's value
    memory_mib: int
    family: str
    compute: tuple[int, int] | None = None  # CUDA compute capability (NVIDIA only)
    device_id: str | None = None  # PCI device id (AMD only)
    compute_units: int | None = None  # compute units (AMD only)

    @property
    def resource(self) -> str:
        """The extended resource the device plugin advertises."""
        return f"{self.vendor}.com/gpu"


H100_SXM = GpuModel("nvidia", "NVIDIA-H100-80GB-HBM3", 81559, "hopper", compute=(9, 0))
A100_SXM_80 = GpuModel("nvidia", "NVIDIA-A100-SXM4-80GB", 81920, "ampere", compute=(8, 0))
L4 = GpuModel("nvidia", "NVIDIA-L4", 23034, "ada-lovelace", compute=(8, 9))
MI300X = GpuModel(
    "amd", "AMD_Instinct_MI300X_OAM", 196608, "AI", device_id="74a1", compute_units=304
)
H200 = GpuModel("nvidia", "NVIDIA-H200", 143771, "hopper", compute=(9, 0))
H100_NVL = GpuModel("nvidia", "NVIDIA-H100-NVL", 95830, "hopper", compute=(9, 0))
H100_PCIE = GpuModel("nvidia", "NVIDIA-H100-PCIe", 81559, "hopper", compute=(9, 0))
A100_PCIE_80 = GpuModel("nvidia", "NVIDIA-A100-80GB-PCIe", 81920, "ampere", compute=(8, 0))
B200 = GpuModel("nvidia", "NVIDIA-B200", 183359, "blackwell", compute=(10, 0))
MI325X = GpuModel(
    "amd", "AMD_Instinct_MI325X_OAM", 262144, "AI", device_id="74a5", compute_units=304
)


@dataclass(frozen=True)
class NodeSpec:
    """A fake node: its name, its machine shape and, optionally, its GPUs."""

    name: str
    cpu: str
    memory: str
    machine: str
    gpu: GpuModel | None = None
    gpu_count: int = 0
    extra_labels: dict[str, str] = field(default_factory=dict)


CATALOG: tuple[NodeSpec, ...] = (
    NodeSpec("gpu-h100-0", "192", "2048Gi", "p5.48xlarge", H100_SXM, 8),
    NodeSpec("gpu-h100-1", "192", "2048Gi", "p5.48xlarge", H100_SXM, 8),
    NodeSpec("gpu-a100-0", "96", "1152Gi", "p4de.24xlarge", A100_SXM_80, 8),
    NodeSpec("gpu-mi300x-0", "192", "2048Gi", "ND96isr_MI300X_v5", MI300X, 8),
    NodeSpec("gpu-l4-0", "48", "192Gi", "g6.12xlarge", L4, 4),
    NodeSpec("gpu-h200-0", "192", "2048Gi", "p5e.48xlarge", H200, 8),
    NodeSpec("gpu-h100nvl-0", "80", "640Gi", "Standard_NC80adis_H100_v5", H100_NVL, 2),
    NodeSpec("gpu-h100pcie-0", "208", "1800Gi", "gpu_8x_h100_pcie", H100_PCIE, 8),
    NodeSpec("gpu-a100pcie-0", "96", "880Gi", "Standard_NC96ads_A100_v4", A100_PCIE_80, 4),
    NodeSpec("gpu-b200-0", "192", "2048Gi", "p6-b200.48xlarge", B200, 8),
    NodeSpec("gpu-mi325x-0", "160", "2048Gi", "mi325x-8gpu", MI325X, 8),
    NodeSpec("cpu-0", "32", "128Gi", "m7i.8xlarge"),
)


def pod_cidr_for(pod_network: str, index: int) -> str:
    """The ``/24`` pod CIDR of the node at ``index`` inside ``pod_network`` (a /16 or larger)."""
    network = ipaddress.ip_network(pod_network)
    subnets = network.subnets(new_prefix=24)
    for i, subnet in enumerate(subnets):
        if i == index:
            return str(subnet)
    raise ValueError(f"pod network {pod_network} has no room for node #{index}")


def _gpu_labels(gpu: GpuModel, count: int, machine: str) -> dict[str, str]:
    if gpu.vendor == "nvidia":
        major, minor = gpu.compute or (0, 0)
        return {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": gpu.product,
            "nvidia.com/gpu.memory": str(gpu.memory_mib),
            "nvidia.com/gpu.count": str(count),
            "nvidia.com/gpu.family": gpu.family,
            "nvidia.com/gpu.compute.major": str(major),
            "nvidia.com/gpu.compute.minor": str(minor),
            "nvidia.com/gpu.machine": machine,
            "nvidia.com/cuda.driver.major": "570",
            "nvidia.com/cuda.driver.minor": "172",
            "nvidia.com/cuda.driver.rev": "08",
            "nvidia.com/cuda.runtime.major": "12",
            "nvidia.com/cuda.runtime.minor": "8",
        }
    return {
        "amd.com/gpu.product-name": gpu.product,
        "amd.com/gpu.vram": f"{gpu.memory_mib // 1024}G",
        "amd.com/gpu.family": gpu.family,
        "amd.com/gpu.device-id": gpu.device_id or "",
        "amd.com/gpu.cu-count": str(gpu.compute_units or 0),
    }


def build_node(spec: NodeSpec, *, pod_cidr: str) -> dict[str, Any]:
    """The Node object for ``spec``, managed by KWOK, with pod IPs from ``pod_cidr``."""
    labels = {
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": spec.machine,
        "type": "kwok",
        **spec.extra_labels,
    }
    resources: dict[str, str] = {"cpu": spec.cpu, "memory": spec.memory, "pods": "110"}
    taints: list[dict[str, str]] = []
    if spec.gpu is not None and spec.gpu_count > 0:
        labels.update(_gpu_labels(spec.gpu, spec.gpu_count, spec.machine))
        resources[spec.gpu.resource] = str(spec.gpu_count)
        taints.append({"key": spec.gpu.resource, "value": "present", "effect": "NoSchedule"})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": spec.name,
            "labels": labels,
            "annotations": {KWOK_ANNOTATION: "fake"},
        },
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr], "taints": taints},
        "status": {"capacity": dict(resources), "allocatable": dict(resources)},
    }


def build_nodes(pod_network: str, catalog: tuple[NodeSpec, ...] = CATALOG) -> list[dict[str, Any]]:
    """Node objects for every entry of ``catalog``, each with its own pod CIDR."""
    return [
        build_node(spec, pod_cidr=pod_cidr_for(pod_network, i + 1))
        for i, spec in enumerate(catalog)
    ]
