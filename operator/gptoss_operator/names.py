"""Names, labels and selectors of everything a GptOssDeployment owns (pure).

One CR ``<name>`` owns: Deployment ``<name>-vllm``, Service ``<name>``, PodDisruptionBudget
``<name>-vllm``, NetworkPolicy ``<name>-vllm`` when the operator fences vLLM pods, and when
weights are cached: PVC ``<name>-weights`` and Job ``<name>-download``.
Pods carry ``gptoss.dev/deployment=<name>``; that selector is the CR's ``status.selector``,
which the ``/scale`` subresource hands to HPA and KEDA.
"""

from __future__ import annotations

GROUP = "gptoss.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "GptOssDeployment"
PLURAL = "gptossdeployments"

DEPLOYMENT_LABEL = "gptoss.dev/deployment"
MODEL_LABEL = "gptoss.dev/model"
COMPONENT_LABEL = "app.kubernetes.io/component"
VLLM_PORT = 8000
_JOB_STEM = 63 - len("-download-") - 8  # the CR name's share of a Job name (8: the hash)


def deployment_name(cr_name: str) -> str:
    return f"{cr_name}-vllm"


def service_name(cr_name: str) -> str:
    return cr_name


def pdb_name(cr_name: str) -> str:
    return f"{cr_name}-vllm"


def fence_name(cr_name: str) -> str:
    return f"{cr_name}-vllm"


def weights_claim_name(cr_name: str) -> str:
    return f"{cr_name}-weights"


def download_job_name(cr_name: str, source_hash: str) -> str:
    """One Job per source: a changed ``spec.source`` gets a new Job (a Job is immutable). A Job's
    name is at most 63 characters (its pods carry it as a label), so a long CR name is cut; the
    hash, made from the claim named after the whole CR name, keeps two such CRs apart."""
    return f"{cr_name[:_JOB_STEM].rstrip('-')}-download-{source_hash}"


def selector_labels(cr_name: str) -> dict[str, str]:
    """The labels that select this CR's vLLM pods (never changes for a CR)."""
    return {DEPLOYMENT_LABEL: cr_name}


def selector(cr_name: str) -> str:
    """``selector_labels`` as a label-selector string (``status.selector``)."""
    return ",".join(f"{k}={v}" for k, v in sorted(selector_labels(cr_name).items()))


def common_labels(cr_name: str, model: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "gptoss",
        "app.kubernetes.io/instance": cr_name,
        "app.kubernetes.io/managed-by": "gptoss-operator",
        COMPONENT_LABEL: component,
        MODEL_LABEL: model,
        **selector_labels(cr_name),
    }


def endpoint(cr_name: str, namespace: str) -> str:
    """The in-cluster OpenAI-compatible base URL of the CR's Service."""
    return f"http://{service_name(cr_name)}.{namespace}.svc:{VLLM_PORT}/v1"
