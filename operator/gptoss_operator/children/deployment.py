"""The vLLM Deployment of a GptOssDeployment (pure: one typed spec in, one dict out).

Choices, each for a reason:

* Pinning: a node selector on the vendor's product label (GPU Feature Discovery /
  AMD node labeller), the vendor's GPU resource as a limit, and a toleration of the GPU taint
  (docs/sources.md, GPU nodes). Replicas prefer different nodes.
* Rollout: ``maxSurge: 1, maxUnavailable: 0`` when the caller found a free GPU set for one more
  replica (``surge``), so a one-replica model keeps serving through a rollout; else
  ``maxSurge: 0, maxUnavailable: 1``. Kubernetes' defaults would need a second free GPU set
  and deadlock on full nodes with "Insufficient nvidia.com/gpu" (LLMKube #192, airunway #400;
  docs/sources.md, Rollouts); taking one replica down first never needs a spare GPU, and the
  router spills that replica's share to providers meanwhile.
* Stopping: a ``preStop`` hook that drains the replica (``stopping``) within
  ``spec.rollout.terminationGracePeriodSeconds`` (600 s unless set), so a scale-down or a
  rollout does not cut long reasoning streams.
* vLLM flags: the sized flags and the recipe's flags (``sizing``), tool calling with the
  ``openai`` parser and ``--enable-auto-tool-choice`` and the ``openai_gptoss`` reasoning parser
  (docs/sources.md, vLLM recipe), the model served under its plain name so clients and the
  router say ``gpt-oss-120b``.
* ``/dev/shm`` as a memory-backed volume (NCCL across GPUs), weights and tiktoken volumes from
  the weights plan, probes from ``probes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gptoss_operator import names
from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.children.probes import liveness_probe, readiness_probe, startup_probe
from gptoss_operator.children.stopping import pre_stop_hook
from gptoss_operator.placement.gpus import product_named
from gptoss_operator.placement.sizing import Sizing
from gptoss_operator.placement.weights import WeightsPlan

__all__ = [
    "Owner",
    "PodExtras",
    "build_deployment",
    "grace_seconds",
    "owner_reference",
    "rolling_update",
    "vllm_args",
]


@dataclass(frozen=True)
class Owner:
    """The CR that owns a child: enough for names, namespace and the owner reference."""

    name: str
    namespace: str
    uid: str


@dataclass(frozen=True)
class PodExtras:
    """Pod-level settings passed through from the CR."""

    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    priority_class_name: str | None = None
    service_account_name: str | None = None


def owner_reference(owner: Owner) -> dict[str, Any]:
    return {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def vllm_args(spec: GptOssDeploymentSpec, sizing: Sizing, plan: WeightsPlan) -> list[str]:
    """``vllm serve`` arguments: model, name, address, sizing, recipe, features, extras."""
    serving = spec.serving
    args = [
        plan.model_arg,
        *plan.serve_args,
        "--served-model-name",
        plan.served_model_name or spec.model,
        "--host",
        "0.0.0.0",  # noqa: S104 - the pod's own network namespace
        "--port",
        str(names.VLLM_PORT),
        *sizing.vllm_args,
    ]
    if serving.max_num_seqs is not None:
        args += ["--max-num-seqs", str(serving.max_num_seqs)]
    if serving.tool_calling:
        args += ["--tool-call-parser", "openai", "--enable-auto-tool-choice"]
    if serving.reasoning_parser:
        args += ["--reasoning-parser", "openai_gptoss"]
    return [*args, *plan.lora_args, *(serving.extra_args or [])]


def grace_seconds(spec: GptOssDeploymentSpec) -> int:
    """How long a stopping replica may take (``spec.rollout``, else 600 s)."""
    return spec.rollout.termination_grace_period_seconds if spec.rollout else 600


def rolling_update(surge: bool) -> dict[str, Any]:
    """The Deployment's ``rollingUpdate``: one extra replica first, or one fewer first."""
    if surge:
        return {"maxSurge": 1, "maxUnavailable": 0}
    return {"maxSurge": 0, "maxUnavailable": 1}


def _resources(spec: GptOssDeploymentSpec, sizing: Sizing) -> dict[str, Any]:
    product = product_named(spec.gpu.product)
    resource = spec.gpu.resource_name or product.resource_name
    gpus = str(sizing.tensor_parallel_size)
    # Host memory: the loader stages each rank's shard in RAM (weights / TP) plus headroom.
    shard_gib = sizing.model.weights_mib / 1024 / sizing.tensor_parallel_size
    memory = f"{int(shard_gib * 1.25) + 16}Gi"
    cpu = str(4 * sizing.tensor_parallel_size)
    return {
        "requests": {"cpu": cpu, "memory": memory, resource: gpus},
        "limits": {"memory": memory, resource: gpus},
    }


def _pod_spec(
    spec: GptOssDeploymentSpec,
    sizing: Sizing,
    plan: WeightsPlan,
    *,
    image: str,
    extras: PodExtras,
    startup_timeout_seconds: int,
    shm_size: str,
    labels: dict[str, str],
) -> dict[str, Any]:
    product = product_named(spec.gpu.product)
    resource = spec.gpu.resource_name or product.resource_name
    env = {**sizing.env, **plan.env, **{e.name: e.value or "" for e in spec.serving.env or []}}
    container: dict[str, Any] = {
        "name": "vllm",
        "image": image,
        "command": ["vllm", "serve"],
        "args": vllm_args(spec, sizing, plan),
        "ports": [{"name": "http", "containerPort": names.VLLM_PORT, "protocol": "TCP"}],
        "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
        "resources": _resources(spec, sizing),
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}, *plan.mounts],
        "startupProbe": startup_probe(startup_timeout_seconds),
        "readinessProbe": readiness_probe(),
        "livenessProbe": liveness_probe(),
        "securityContext": {"allowPrivilegeEscalation": False},
        "lifecycle": pre_stop_hook(grace_seconds(spec)),
        # vLLM says why it will not start only in its log; the kubelet keeps the log's tail as
        # the termination message, which the CR's status then quotes (reconciling.not_ready)
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if spec.source and spec.source.secret_name:
        container["envFrom"] = [{"secretRef": {"name": spec.source.secret_name}}]
    # The vendor's GPU taint is tolerated whatever resource the pod asks for (a shared or MIG
    # resource runs on nodes that carry it too), and a resource of its own name as well.
    tolerations: list[dict[str, Any]] = [
        {"key": key, "operator": "Exists", "effect": "NoSchedule"}
        for key in dict.fromkeys((product.resource_name, resource))
    ]
    tolerations += [
        t.model_dump(by_alias=True, exclude_none=True) for t in spec.gpu.tolerations or []
    ]
    pod: dict[str, Any] = {
        "nodeSelector": {product.label_key: product.label_value, **(spec.gpu.node_selector or {})},
        "tolerations": tolerations,
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": dict(labels)},
                            "topologyKey": "kubernetes.io/hostname",
                        },
                    }
                ]
            }
        },
        "containers": [container],
        "volumes": [
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": shm_size}},
            *plan.volumes,
        ],
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": grace_seconds(spec),
    }
    if plan.init_containers:
        pod["initContainers"] = list(plan.init_containers)
    if extras.priority_class_name:
        pod["priorityClassName"] = extras.priority_class_name
    if extras.service_account_name:
        pod["serviceAccountName"] = extras.service_account_name
    return pod


def build_deployment(
    owner: Owner,
    spec: GptOssDeploymentSpec,
    sizing: Sizing,
    plan: WeightsPlan,
    *,
    replicas: int,
    image: str,
    extras: PodExtras,
    startup_timeout_seconds: int,
    shm_size: str,
    surge: bool = False,
) -> dict[str, Any]:
    """The Deployment running ``replicas`` vLLM pods for ``spec``; ``surge``: roll out by
    starting one extra replica first (the caller found free GPUs for it)."""
    labels = names.common_labels(owner.name, spec.model, "vllm")
    pod_labels = {**extras.labels, **labels}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": names.deployment_name(owner.name),
            "namespace": owner.namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": names.selector_labels(owner.name)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": rolling_update(surge),
            },
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": startup_timeout_seconds + 600,
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {**extras.annotations, **dict(plan.annotations)},
                },
                "spec": _pod_spec(
                    spec,
                    sizing,
                    plan,
                    image=image,
                    extras=extras,
                    startup_timeout_seconds=startup_timeout_seconds,
                    shm_size=shm_size,
                    labels=names.selector_labels(owner.name),
                ),
            },
        },
    }
