"""The Gateway API Inference Extension's ``InferencePool`` of a GptOssDeployment (pure).

An InferencePool (``inference.networking.k8s.io/v1``) tells a Gateway which pods serve a model
and which Endpoint Picker (EPP) chooses among them; an ``HTTPRoute`` then points at the pool
instead of a Service (docs/sources.md, Gateway API Inference Extension). gptoss publishes one
per GptOssDeployment that asks for it (``spec.inferencePool.enabled``), named like the CR:

* ``selector.matchLabels``: the same label the Deployment selects its vLLM pods by;
* ``targetPorts``: vLLM's port;
* ``endpointPickerRef``: the user's EPP Service (``spec.inferencePool.endpointPicker``; unset,
  ``<name>-epp`` on port 9002, the EPP's gRPC ext-proc port) and its failure mode.

The operator does not run an EPP: which one (the project's, llm-d's, a Gateway vendor's) and
its scoring are the platform's choice.
"""

from __future__ import annotations

from typing import Any

from gptoss_operator import names
from gptoss_operator.api.spec import InferencePoolSettings
from gptoss_operator.children.deployment import Owner, owner_reference

__all__ = ["API_VERSION", "KIND", "build_inference_pool"]

API_VERSION = "inference.networking.k8s.io/v1"
KIND = "InferencePool"


def build_inference_pool(
    owner: Owner, model: str, settings: InferencePoolSettings
) -> dict[str, Any]:
    picker = settings.endpoint_picker
    ref: dict[str, Any] = {
        "name": (picker.name if picker and picker.name else f"{owner.name}-epp"),
        "port": {"number": picker.port if picker else 9002},
        "failureMode": picker.failure_mode if picker else "FailClose",
    }
    if picker is not None and (picker.kind != "Service" or picker.group):
        ref["kind"] = picker.kind
        ref["group"] = picker.group
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": owner.name,
            "namespace": owner.namespace,
            "labels": names.common_labels(owner.name, model, "inference-pool"),
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "selector": {"matchLabels": names.selector_labels(owner.name)},
            "targetPorts": [{"number": names.VLLM_PORT}],
            "appProtocol": "http",
            "endpointPickerRef": ref,
        },
    }
