"""What a GptOssDeployment's spec alone decides, before anything is read or written: the
parsed spec, its sizing on the largest node there is, its weights plan, the image it runs and
whether vLLM would take its command line (``plan``); and, from the spec or the operator's
settings, the pod's extra metadata and who may reach the vLLM pods. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.children.deployment import Owner, PodExtras, vllm_args
from gptoss_operator.children.fence import Clients
from gptoss_operator.errors import GptOssError, InvalidAdapters, InvalidSpec, NoNodeLargeEnough
from gptoss_operator.placement.gpus import Vendor, product_named
from gptoss_operator.placement.serving_args import (
    check_serving_args,
    sizing_overrides,
    step_too_small,
)
from gptoss_operator.placement.sizing import NodeLimit, Sizing, size_spec
from gptoss_operator.placement.weights import WeightsPlan, plan_weights
from gptoss_operator.reconciling.reasons import Reason
from gptoss_operator.reconciling.rollout import kept_image
from gptoss_operator.settings import OperatorSettings

__all__ = ["Plan", "parse_spec", "plan", "pod_extras", "replicas_wanted", "vllm_clients"]


@dataclass(frozen=True)
class Plan:
    """Everything decided from the spec alone."""

    owner: Owner
    spec: GptOssDeploymentSpec
    sizing: Sizing | None
    sizing_error: str | None
    weights: WeightsPlan | None
    image: str
    serving_args_error: str | None = None
    sizing_reason: Reason = Reason.DOES_NOT_FIT
    default_image: str = ""  # the operator's default for the vendor (status.availableImage)


def parse_spec(body: dict[str, Any]) -> GptOssDeploymentSpec:
    try:
        return GptOssDeploymentSpec.model_validate(body.get("spec", {}))
    except ValidationError as exc:
        raise InvalidSpec(f"spec is invalid: {exc}") from exc


def plan(
    body: dict[str, Any],
    settings: OperatorSettings,
    node_limit: NodeLimit | None = None,
    live: dict[str, Any] | None = None,
) -> Plan:
    """Size the replica (on nodes no larger than ``node_limit``) and plan its weights (pure);
    ``live``: the Deployment running now, whose image a CR keeps (``rollout.kept_image``)."""
    meta = body["metadata"]
    owner = Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])
    spec = parse_spec(body)
    product = product_named(spec.gpu.product)
    default_image = (
        settings.vllm_image_amd if product.vendor is Vendor.AMD else settings.vllm_image_nvidia
    )
    image = kept_image(
        spec,
        meta.get("annotations") or {},
        live,
        default=default_image,
        label_key=product.label_key,
    )
    sizing: Sizing | None = None
    sizing_error: str | None = None
    weights: WeightsPlan | None = None
    reason = Reason.DOES_NOT_FIT
    try:
        sizing = size_spec(spec, node_limit)
        weights = plan_weights(owner.name, spec, image=image)
    except NoNodeLargeEnough as exc:
        sizing_error, reason = str(exc), Reason.NO_NODE_LARGE_ENOUGH
    except InvalidAdapters as exc:
        sizing_error, reason = str(exc), Reason.INVALID_ADAPTERS
    except GptOssError as exc:
        sizing_error = str(exc)
    args_error = None
    if sizing is not None and weights is not None:
        args_error = (
            sizing_overrides(spec)
            or step_too_small(spec, sizing.max_num_batched_tokens)
            or check_serving_args(image, vllm_args(spec, sizing, weights))
        )
    return Plan(
        owner, spec, sizing, sizing_error, weights, image, args_error, reason, default_image
    )


def replicas_wanted(spec: GptOssDeploymentSpec) -> int:
    """The replicas to run: ``spec.replicas``, within ``spec.autoscaling``'s bounds when it is
    set. A ``kubectl scale`` past them would otherwise start GPU pods (and perhaps GPU nodes)
    that the autoscaler's next tick takes away again."""
    if spec.autoscaling is None:
        return spec.replicas
    bounds = spec.autoscaling
    return min(max(spec.replicas, bounds.min_replicas), bounds.max_replicas)


def pod_extras(spec: GptOssDeploymentSpec) -> PodExtras:
    pod = spec.pod
    if pod is None:
        return PodExtras()
    return PodExtras(
        labels=dict(pod.labels or {}),
        annotations=dict(pod.annotations or {}),
        priority_class_name=pod.priority_class_name,
        service_account_name=pod.service_account_name,
    )


def vllm_clients(settings: OperatorSettings) -> Clients | None:
    """Who may reach vLLM pods, if the operator fences them (both settings given)."""
    if not (settings.vllm_clients_namespace and settings.vllm_client_labels):
        return None
    return Clients(settings.vllm_clients_namespace, tuple(settings.vllm_client_labels))
