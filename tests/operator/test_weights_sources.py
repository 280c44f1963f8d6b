"""Weights for many replicas and changing sources (pure): one download Job per source, run as
the pods' service account; a pinned Hugging Face revision; a claim that replicas can share."""

from __future__ import annotations

from typing import Any

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.children.deployment import Owner, vllm_args
from gptoss_operator.children.storage import build_download_job
from gptoss_operator.placement.sizing import size_spec
from gptoss_operator.placement.weights import plan_weights
from gptoss_operator.reconciling.judging import judge
from gptoss_operator.reconciling.observe import DeploymentView, JobView, Observed

OWNER = Owner(name="chat", namespace="ml", uid="u-1")


def _spec(**fields: Any) -> GptOssDeploymentSpec:
    base: dict[str, Any] = {
        "model": "gpt-oss-20b",
        "gpu": {"product": "H100-80GB"},
        "cache": {"pvc": {"size": "100Gi"}},
    }
    return GptOssDeploymentSpec.model_validate({**base, **fields})


def _job(spec: GptOssDeploymentSpec, image: str = "vllm/vllm-openai:v0.17.0") -> dict[str, Any]:
    weights = plan_weights("chat", spec, image=image)
    assert weights.download is not None and weights.claim_name is not None
    account = spec.pod.service_account_name if spec.pod else None
    return build_download_job(
        OWNER, spec.model, weights.download, weights.claim_name, service_account_name=account
    )


def test_a_changed_source_gets_a_new_download_job_and_an_operator_upgrade_does_not() -> None:
    first = _job(_spec(source={"uri": "hf://openai/gpt-oss-20b"}))
    again = _job(_spec(source={"uri": "hf://openai/gpt-oss-20b"}), image="vllm/vllm-openai:v0.32.0")
    pinned = _job(_spec(source={"uri": "hf://openai/gpt-oss-20b", "revision": "6cee5e8"}))
    other = _job(_spec(source={"uri": "s3://models/gpt-oss-20b"}))
    names = [j["metadata"]["name"] for j in (first, again, pinned, other)]
    assert names[0] == names[1]  # same source, newer image: no second download
    assert len(set(names)) == 3
    assert all(
        n.startswith("chat-download-") and len(n) == len("chat-download-") + 8 for n in names
    )


def test_the_download_job_runs_as_the_pods_service_account_for_workload_identity() -> None:
    job = _job(
        _spec(source={"uri": "s3://models/gpt-oss-20b"}, pod={"serviceAccountName": "s3-reader"})
    )
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "s3-reader"
    assert "envFrom" not in pod["containers"][0]  # no Secret needed with IRSA
    assert "serviceAccountName" not in _job(_spec())["spec"]["template"]["spec"]


def test_a_pinned_revision_downloads_into_its_own_folder_and_vllm_loads_it_from_there() -> None:
    spec = _spec(source={"revision": "6cee5e8"})
    weights = plan_weights("chat", spec, image="img")
    assert weights.download is not None
    command = list(weights.download.command)
    assert command[command.index("--revision") + 1] == "6cee5e8"
    assert weights.model_arg == "/models/hf/openai/gpt-oss-20b@6cee5e8"
    assert command[command.index("--local-dir") + 1] == weights.model_arg


def test_without_a_claim_vllm_itself_fetches_the_pinned_revision() -> None:
    spec = GptOssDeploymentSpec.model_validate(
        {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}, "source": {"revision": "v1.1"}}
    )
    weights = plan_weights("chat", spec, image="img")
    args = vllm_args(spec, size_spec(spec), weights)
    assert args[:5] == ["openai/gpt-oss-20b", "--revision", "v1.1", "--tokenizer-revision", "v1.1"]


def test_replicas_of_the_previous_source_keep_serving_while_the_new_one_downloads() -> None:
    deployment = DeploymentView(1, 1, 2, 2, 2, False)
    downloading = Observed(
        deployment, (), JobView(active=1, succeeded=False, failed=False, message=None)
    )
    verdicts = judge(wanted=2, sizing_error=None, observed=downloading)
    assert (verdicts["Ready"].status, verdicts["Ready"].reason) == ("True", "Serving")
    assert (verdicts["Progressing"].status, verdicts["Progressing"].reason) == (
        "True",
        "DownloadingWeights",
    )
    failed = Observed(deployment, (), JobView(0, False, True, "BackoffLimitExceeded"))
    verdicts = judge(wanted=2, sizing_error=None, observed=failed)
    assert verdicts["Ready"].status == "True"
    assert (verdicts["Degraded"].status, verdicts["Degraded"].reason) == ("True", "DownloadFailed")
    assert "BackoffLimitExceeded" in verdicts["Degraded"].message
