"""A changed ``spec.source`` on a CR with a weights claim (reconcile against an in-memory API):
the replicas of the previous source keep serving, as many as wanted, while the new one
downloads and after its download fails; only before any source is there are there none. The
status says which of the two it is."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gptoss_operator.reconciling.observe import WEIGHTS_READY, weights_ready
from tests.operator.memory_api import MemoryApi, cr, reconciled

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def _cr(revision: str, replicas: int = 2) -> dict[str, Any]:
    spec = {
        "model": "gpt-oss-20b",
        "gpu": {"product": "H100-80GB"},
        "replicas": replicas,
        "cache": {"pvc": {"size": "100Gi"}},
        "source": {"revision": revision},
    }
    return cr(spec)


def _finish(job: dict[str, Any], *, failed: bool = False) -> None:
    kind, message = ("Failed", "BackoffLimitExceeded") if failed else ("Complete", "")
    job["status"] = {"conditions": [{"type": kind, "status": "True", "message": message}]}


def _conditions(status: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in status["conditions"]}


def _serving_v1(api: MemoryApi) -> dict[str, Any]:
    """The CR at revision v1, downloaded and serving with 2 replicas; its pod template."""
    reconciled(api, _cr("v1"))
    _finish(api.one("Job"))
    reconciled(api, _cr("v1"))
    api.serving(2)
    deployment = api.one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    template: dict[str, Any] = deployment["spec"]["template"]
    return template


def test_a_new_source_downloads_while_the_previous_ones_replicas_keep_serving() -> None:
    api = MemoryApi()
    v1 = _serving_v1(api)
    status = reconciled(api, _cr("v2"))
    deployment = api.one("Deployment")
    assert deployment["spec"]["replicas"] == 2, "the serving replicas were scaled to 0"
    assert deployment["spec"]["template"] == v1  # the new source rolls out once it is there
    said = _conditions(status)
    assert said["Ready"][:2] == ("True", "Serving")
    assert said["Progressing"][1] == "DownloadingWeights"
    assert "keep serving the previous one" in said["Progressing"][2]


def test_a_failed_download_of_a_new_source_leaves_the_previous_one_serving() -> None:
    api = MemoryApi()
    v1 = _serving_v1(api)
    reconciled(api, _cr("v2"))
    (failed,) = (j for j in api.objects.values() if j["kind"] == "Job" and "status" not in j)
    _finish(failed, failed=True)
    status = reconciled(api, _cr("v2"))
    deployment = api.one("Deployment")
    assert (deployment["spec"]["replicas"], deployment["spec"]["template"]) == (2, v1)
    said = _conditions(status)
    assert said["Ready"][:2] == ("True", "Serving")
    assert said["Degraded"][:2] == ("True", "DownloadFailed")
    assert "keep serving the previous one" in said["Degraded"][2]


def test_a_scale_up_while_a_new_source_downloads_starts_replicas_of_the_previous_one() -> None:
    api = MemoryApi()
    _serving_v1(api)
    reconciled(api, _cr("v1", replicas=0))
    api.serving(0)
    status = reconciled(api, _cr("v2", replicas=3))
    assert api.one("Deployment")["spec"]["replicas"] == 3
    said = _conditions(status)
    assert said["Ready"][1] != "DownloadingWeights"  # replicas start now, not after it
    assert said["Progressing"][1] == "DownloadingWeights"
    assert "keeps the previous one meanwhile" in said["Progressing"][2]


def test_the_first_source_starts_no_replica_before_it_is_downloaded() -> None:
    api = MemoryApi()
    status = reconciled(api, _cr("v1"))
    assert api.one("Deployment")["spec"]["replicas"] == 0
    said = _conditions(status)
    assert said["Ready"][:2] == ("False", "DownloadingWeights")
    assert "replicas start after it" in said["Ready"][2]
    reconciled(api, _cr("v1"))  # still downloading: still none
    assert api.one("Deployment")["spec"]["replicas"] == 0
    _finish(api.one("Job"), failed=True)
    status = reconciled(api, _cr("v1"))
    assert api.one("Deployment")["spec"]["replicas"] == 0
    said = _conditions(status)
    assert said["Ready"][:2] == ("False", "DownloadFailed")
    assert "no replica starts before a source is downloaded" in said["Ready"][2]
    assert "previous one" not in said["Degraded"][2]


def test_a_deployment_says_whether_the_source_its_pods_load_is_downloaded() -> None:
    def deployment(annotations: dict[str, str], replicas: int) -> dict[str, Any]:
        return {"metadata": {"annotations": annotations}, "spec": {"replicas": replicas}}

    assert weights_ready(deployment({WEIGHTS_READY: "true"}, 0))
    assert not weights_ready(deployment({WEIGHTS_READY: "false"}, 2))
    # An older operator scaled a Deployment up only once its source was there.
    assert weights_ready(deployment({}, 2))
    assert not weights_ready(deployment({}, 0))
    assert not weights_ready(None)


def test_a_failed_download_says_how_to_run_it_again_and_runs_again_once_its_job_is_gone() -> None:
    """A Job out of retries stays failed, and the operator makes one per source: fixing the
    Secret alone would never download. The status names the Job to delete, and the operator
    starts the download again once it is gone."""
    api = MemoryApi()
    reconciled(api, _cr("v1"))
    job = api.one("Job")
    _finish(job, failed=True)
    status = reconciled(api, _cr("v1"))
    said = _conditions(status)
    name = job["metadata"]["name"]
    assert said["Ready"][:2] == ("False", "DownloadFailed")
    assert f"delete Job {name} and the operator runs the download again" in said["Ready"][2]
    assert api.one("Deployment")["spec"]["replicas"] == 0
    del api.objects[("batch/v1", "Job", "ml", name)]
    status = reconciled(api, _cr("v1"))
    again = api.one("Job")
    assert again["metadata"]["name"] == name and "status" not in again
    assert _conditions(status)["Ready"][1] == "DownloadingWeights"
