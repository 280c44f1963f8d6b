"""Status conditions computed from what was observed (pure), and run coalescing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gptoss_operator.reconciling.judging import judge
from gptoss_operator.reconciling.observe import (
    DeploymentView,
    JobView,
    Observed,
    PodView,
    view_deployment,
    view_pod,
    volume_failures,
)
from gptoss_operator.reconciling.outcome import status_patch
from gptoss_operator.reconciling.reasons import Reason
from gptoss_operator.reconciling.runner import Coalescer
from gptoss_operator.reconciling.status import compute_status, to_wire

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def _deployment(
    *, replicas: int = 1, ready: int = 0, updated: int = 1, generation: int = 1, seen: int = 1
) -> DeploymentView:
    return DeploymentView(
        generation=generation,
        observed_generation=seen,
        replicas=replicas,
        ready_replicas=ready,
        updated_replicas=updated,
        progress_deadline_exceeded=False,
    )


def _pod(**fields: Any) -> PodView:
    base: dict[str, Any] = {
        "name": "chat-vllm-abc",
        "phase": "Running",
        "ready": False,
        "started": False,
        "unschedulable": None,
        "waiting_reason": None,
        "waiting_message": None,
        "restarts": 0,
        "terminating": False,
    }
    return PodView(**{**base, **fields})


def _observed(
    *pods: PodView, deployment: DeploymentView | None = None, job: JobView | None = None
) -> Observed:
    return Observed(deployment=deployment or _deployment(), pods=pods, job=job)


def test_a_pod_no_node_can_take_says_it_waits_for_a_gpu_node_in_the_schedulers_words() -> None:
    message = "0/6 nodes are available: 2 Insufficient nvidia.com/gpu, 4 node(s) didn't match"
    pod = _pod(phase="Pending", unschedulable=message)
    verdicts = judge(wanted=1, sizing_error=None, observed=_observed(pod))
    assert verdicts["Ready"].reason == "WaitingForGPUNode"
    assert message in verdicts["Ready"].message
    assert verdicts["Degraded"].status == "True"


def test_a_started_pod_that_has_not_passed_its_startup_probe_is_loading_weights() -> None:
    verdicts = judge(wanted=1, sizing_error=None, observed=_observed(_pod()))
    assert (verdicts["Ready"].status, verdicts["Ready"].reason) == ("False", "LoadingWeights")
    assert verdicts["Degraded"].status == "False"
    assert verdicts["Progressing"] == verdicts["Progressing"].__class__(
        "True", "ScalingUp", "0 of 1 replicas ready"
    )


def test_one_ready_replica_makes_the_deployment_ready() -> None:
    observed = _observed(_pod(ready=True, started=True), deployment=_deployment(ready=1))
    verdicts = judge(wanted=1, sizing_error=None, observed=observed)
    assert (verdicts["Ready"].status, verdicts["Ready"].reason) == ("True", "Serving")
    assert verdicts["Progressing"].reason == "Complete"


def test_a_refused_edit_degrades_a_cr_whose_earlier_replicas_still_serve_but_keeps_it_ready() -> (
    None
):
    observed = _observed(_pod(ready=True, started=True), deployment=_deployment(ready=1))
    refused = "spec.adapters[0].name 'gpt-oss-20b' is already the name of the served model"
    verdicts = judge(
        wanted=1, sizing_error=refused, observed=observed, sizing_reason=Reason.INVALID_ADAPTERS
    )
    assert (verdicts["Ready"].status, verdicts["Ready"].reason) == ("True", "Serving")
    assert verdicts["Degraded"] == verdicts["Degraded"].__class__(
        "True", "InvalidAdapters", refused
    )
    alone = judge(
        wanted=1,
        sizing_error=refused,
        observed=_observed(_pod()),
        sizing_reason=Reason.INVALID_ADAPTERS,
    )
    assert (alone["Ready"].status, alone["Ready"].reason) == ("False", "InvalidAdapters")


def test_zero_wanted_replicas_are_reported_as_scaled_to_zero_not_as_a_failure() -> None:
    observed = _observed(deployment=_deployment(replicas=0, updated=0))
    verdicts = judge(wanted=0, sizing_error=None, observed=observed)
    assert verdicts["Ready"].reason == "ScaledToZero"
    assert verdicts["Degraded"].status == "False"
    assert "holds" in verdicts["Ready"].message


def test_the_ready_message_says_whether_requests_spill_while_no_replica_serves() -> None:
    loading = _observed(_pod())
    spilling = judge(wanted=1, sizing_error=None, observed=loading, spills=True)
    holding = judge(wanted=1, sizing_error=None, observed=loading, spills=False)
    assert "spills this model's requests to hosted providers" in spilling["Ready"].message
    assert "holds this model's requests" in holding["Ready"].message


def test_image_pull_and_crash_loops_are_named_with_the_kubelets_message() -> None:
    pulling = _pod(
        phase="Pending",
        waiting_reason="ImagePullBackOff",
        waiting_message='Back-off pulling image "vllm/vllm-openai:nope"',
    )
    verdicts = judge(wanted=1, sizing_error=None, observed=_observed(pulling))
    assert verdicts["Ready"].reason == "ImagePullFailing"
    assert "vllm-openai:nope" in verdicts["Ready"].message
    crashing = _pod(waiting_reason="CrashLoopBackOff", restarts=4, started=False)
    verdicts = judge(wanted=1, sizing_error=None, observed=_observed(crashing))
    assert verdicts["Ready"].reason == "CrashLooping"
    assert "4 times" in verdicts["Ready"].message


def test_a_download_in_progress_holds_replicas_and_a_failed_one_degrades() -> None:
    running = JobView(active=1, succeeded=False, failed=False, message=None)
    verdicts = judge(wanted=2, sizing_error=None, observed=_observed(job=running))
    assert verdicts["Ready"].reason == "DownloadingWeights"
    assert verdicts["Progressing"].status == "True"
    failed = JobView(active=0, succeeded=False, failed=True, message="BackoffLimitExceeded")
    verdicts = judge(wanted=2, sizing_error=None, observed=_observed(job=failed))
    assert verdicts["Degraded"].reason == "DownloadFailed"
    assert "BackoffLimitExceeded" in verdicts["Degraded"].message


def test_an_old_generation_is_never_reported_as_complete() -> None:
    observed = _observed(
        _pod(ready=True, started=True),
        deployment=_deployment(ready=1, updated=1, generation=3, seen=2),
    )
    verdicts = judge(wanted=1, sizing_error=None, observed=observed)
    assert verdicts["Progressing"].reason == "RollingOut"


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    observed = _observed(_pod())
    first = to_wire(
        compute_status(
            cr_name="chat",
            namespace="ml",
            generation=1,
            wanted=1,
            sizing=None,
            sizing_error=None,
            observed=observed,
            previous={},
            now=NOW,
        )
    )
    later = NOW + dt.timedelta(minutes=5)
    second = to_wire(
        compute_status(
            cr_name="chat",
            namespace="ml",
            generation=1,
            wanted=1,
            sizing=None,
            sizing_error=None,
            observed=observed,
            previous=first,
            now=later,
        )
    )
    assert second == first
    ready_now = _observed(_pod(ready=True, started=True), deployment=_deployment(ready=1))
    third = to_wire(
        compute_status(
            cr_name="chat",
            namespace="ml",
            generation=1,
            wanted=1,
            sizing=None,
            sizing_error=None,
            observed=ready_now,
            previous=second,
            now=later,
        )
    )
    ready = next(c for c in third["conditions"] if c["type"] == "Ready")
    assert ready["lastTransitionTime"] == "2026-11-25T12:05:00Z"
    assert third["selector"] == "gptoss.dev/deployment=chat"
    assert third["endpoint"] == "http://chat.ml.svc:8000/v1"


def test_the_scheduler_message_is_read_from_the_pod_condition() -> None:
    pod = {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/6 nodes are available: 6 Insufficient nvidia.com/gpu.",
                }
            ],
        },
    }
    assert view_pod(pod).unschedulable == "0/6 nodes are available: 6 Insufficient nvidia.com/gpu."


def test_triggers_during_a_run_coalesce_into_exactly_one_rerun() -> None:
    runs = Coalescer()
    assert runs.enter("ml/chat")
    assert not runs.enter("ml/chat")
    assert not runs.enter("ml/chat")
    assert runs.enter("ml/other")
    assert runs.leave("ml/chat") is True
    assert runs.leave("ml/chat") is False
    assert runs.enter("ml/chat")


def test_a_started_replica_failing_readiness_beside_a_serving_one_degrades() -> None:
    observed = _observed(
        _pod(name="a", ready=True, started=True),
        _pod(name="b", ready=False, started=True),
        deployment=_deployment(replicas=2, ready=1, updated=2),
    )
    verdicts = judge(wanted=2, sizing_error=None, observed=observed)
    assert verdicts["Ready"].status == "True"
    assert (verdicts["Degraded"].status, verdicts["Degraded"].reason) == (
        "True",
        "ReplicasUnavailable",
    )
    assert verdicts["Degraded"].message == "1 of 2 replicas started but fail their readiness probe"


def test_a_scale_up_whose_new_replica_is_still_coming_does_not_degrade() -> None:
    """The serving replica is ready; the new one is pulling its image or not made yet. Nothing
    fails a readiness probe: that is progress, not degradation."""
    serving = _pod(name="a", ready=True, started=True)
    pulling = _pod(name="b", phase="Pending", waiting_reason="ContainerCreating")
    deployment = _deployment(replicas=2, ready=1, updated=2)
    for pods in ((serving, pulling), (serving,)):
        verdicts = judge(
            wanted=2, sizing_error=None, observed=_observed(*pods, deployment=deployment)
        )
        assert verdicts["Ready"].status == "True"
        assert verdicts["Degraded"].status == "False", verdicts["Degraded"]
        assert verdicts["Progressing"].reason == "ScalingUp"


def test_a_failed_run_frees_its_key_so_the_retry_is_not_swallowed() -> None:
    runs = Coalescer()
    assert runs.enter("ml/chat")
    assert not runs.enter("ml/chat")
    runs.abandon("ml/chat")
    assert runs.enter("ml/chat")


def test_a_condition_the_reconciler_does_not_judge_is_kept_as_the_autoscaler_wrote_it() -> None:
    theirs = {
        "type": "MetricsAvailable",
        "status": "False",
        "observedGeneration": 1,
        "lastTransitionTime": "2026-11-25T11:00:00Z",
        "reason": "MetricsUnavailable",
        "message": "no answer from the metrics of pod chat-vllm-abc",
    }
    observed = _observed(_pod())

    def status(previous: dict[str, Any]) -> dict[str, Any]:
        return to_wire(
            compute_status(
                cr_name="chat",
                namespace="ml",
                generation=1,
                wanted=1,
                sizing=None,
                sizing_error=None,
                observed=observed,
                previous=previous,
                now=NOW,
            )
        )

    first = status({})
    with_theirs = {**first, "conditions": [*first["conditions"], theirs]}
    again = status(with_theirs)
    assert again == with_theirs, "a settled status with the autoscaler's condition is rewritten"
    assert [c["type"] for c in again["conditions"]] == [
        "Ready",
        "Progressing",
        "Degraded",
        "MetricsAvailable",
    ]


def _deployment_dict(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"generation": 1},
        "status": {"observedGeneration": 1, "replicas": 0, "conditions": conditions},
    }


def _pod_dict(status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "chat-vllm-abc"}, "status": status}


def test_a_replicaset_that_cannot_create_pods_degrades_with_the_api_servers_message() -> None:
    message = (
        'pods "chat-vllm-5d9f-x" is forbidden: exceeded quota: gpus, requested: '
        "requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=0, limited: "
        "requests.nvidia.com/gpu=0"
    )
    deployment = view_deployment(
        _deployment_dict(
            [
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "reason": "FailedCreate",
                    "message": message,
                }
            ]
        )
    )
    verdicts = judge(wanted=1, sizing_error=None, observed=_observed(deployment=deployment))
    assert (verdicts["Ready"].reason, verdicts["Degraded"].reason) == ("PodCreationFailed",) * 2
    assert verdicts["Degraded"].status == "True"
    assert message in verdicts["Degraded"].message
    assert "0 of 1 replicas exist" in verdicts["Degraded"].message


def test_a_resolved_replica_failure_no_longer_degrades() -> None:
    deployment = view_deployment(
        _deployment_dict([{"type": "ReplicaFailure", "status": "False", "reason": "FailedCreate"}])
    )
    assert deployment.replica_failure is None


def test_a_missing_secret_key_in_the_container_config_is_container_config_invalid() -> None:
    message = "couldn't find key HF_TOKEN in Secret t-1/hf"
    pod = view_pod(
        _pod_dict(
            {
                "phase": "Pending",
                "containerStatuses": [
                    {
                        "name": "vllm",
                        "state": {
                            "waiting": {"reason": "CreateContainerConfigError", "message": message}
                        },
                    }
                ],
            }
        )
    )
    verdicts = judge(wanted=1, sizing_error=None, observed=_observed(pod))
    assert verdicts["Degraded"].reason == "ContainerConfigInvalid"
    assert verdicts["Degraded"].status == "True"
    assert message in verdicts["Ready"].message


def test_a_crashing_init_container_is_named_with_its_exit_code() -> None:
    pod = view_pod(
        _pod_dict(
            {
                "phase": "Pending",
                "initContainerStatuses": [
                    {
                        "name": "tiktoken",
                        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                        "lastState": {"terminated": {"exitCode": 22, "reason": "Error"}},
                    }
                ],
                "containerStatuses": [
                    {"name": "vllm", "state": {"waiting": {"reason": "PodInitializing"}}}
                ],
            }
        )
    )
    verdicts = judge(wanted=1, sizing_error=None, observed=_observed(pod))
    assert verdicts["Degraded"].reason == "InitContainerFailed"
    assert "init container tiktoken" in verdicts["Degraded"].message
    assert "last exit code 22" in verdicts["Degraded"].message


def test_an_init_container_that_exited_non_zero_is_a_failure_and_a_running_one_is_not() -> None:
    failed = view_pod(
        _pod_dict(
            {
                "phase": "Failed",
                "initContainerStatuses": [
                    {"name": "fetch", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}
                ],
            }
        )
    )
    running = view_pod(
        _pod_dict(
            {
                "phase": "Pending",
                "initContainerStatuses": [{"name": "fetch", "state": {"running": {}}}],
            }
        )
    )
    assert failed.init_failure == "init container fetch exited with code 1: Error"
    assert running.init_failure is None


def test_the_latest_volume_event_of_a_pending_pod_is_volume_mount_failed() -> None:
    events = [
        {
            "involvedObject": {"kind": "Pod", "name": "chat-vllm-abc"},
            "reason": "FailedMount",
            "lastTimestamp": "2026-11-25T12:00:00Z",
            "message": 'MountVolume.SetUp failed for volume "creds" : secret "gone" not found',
        },
        {
            "involvedObject": {"kind": "Pod", "name": "chat-vllm-abc"},
            "reason": "FailedAttachVolume",
            "lastTimestamp": "2026-11-25T12:01:00Z",
            "message": 'Multi-Attach error for volume "pvc-1" Volume is already used by pod(s) x',
        },
        {
            "involvedObject": {"kind": "Pod", "name": "chat-vllm-abc"},
            "reason": "BackOff",
            "lastTimestamp": "2026-11-25T12:02:00Z",
            "message": "unrelated",
        },
    ]
    failures = volume_failures(events)
    assert failures == {
        "chat-vllm-abc": (
            'FailedAttachVolume: Multi-Attach error for volume "pvc-1" Volume is already used '
            "by pod(s) x"
        )
    }
    pending = view_pod(_pod_dict({"phase": "Pending"}), failures["chat-vllm-abc"])
    verdicts = judge(wanted=1, sizing_error=None, observed=_observed(pending))
    assert (verdicts["Degraded"].status, verdicts["Degraded"].reason) == (
        "True",
        "VolumeMountFailed",
    )
    assert "Multi-Attach error" in verdicts["Degraded"].message
    running = view_pod(_pod_dict({"phase": "Running"}), failures["chat-vllm-abc"])
    assert running.volume_failure is None


def test_a_crash_loop_quotes_the_last_line_vllm_wrote_before_it_exited() -> None:
    log_tail = (
        "(EngineCore pid=41) Traceback (most recent call last):\n"
        "  ...\n"
        "ValueError: To serve at least one request with the models's max seq len (131072), "
        "(4.54 GiB KV cache is needed, which is larger than the available KV cache memory "
        "(1.71 GiB).\n\n"
    )
    crashing = view_pod(
        _pod_dict(
            {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "vllm",
                        "restartCount": 3,
                        "started": False,
                        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                        "lastState": {"terminated": {"exitCode": 1, "message": log_tail}},
                    }
                ],
            }
        )
    )
    assert crashing.last_exit is not None and crashing.last_exit.startswith(
        "exit code 1: ValueError"
    )
    verdicts = judge(wanted=1, sizing_error=None, observed=_observed(crashing))
    assert verdicts["Ready"].reason == "CrashLooping"
    message = verdicts["Ready"].message
    assert "restarted 3 times; its last exit code 1: ValueError: To serve" in message
    assert "(1.71 GiB)" in message and "Traceback" not in message
    # a clean exit, or none yet, leaves the kubelet's own words
    quiet = view_pod(
        _pod_dict(
            {
                "phase": "Running",
                "containerStatuses": [
                    {"restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                     "lastState": {"terminated": {"exitCode": 0, "message": "bye"}}}
                ],
            }
        )
    )  # fmt: skip
    assert quiet.last_exit is None


def test_a_quoted_exit_never_carries_a_credential_into_status() -> None:
    said = (
        "OSError: 401 Client Error for https://huggingface.co/api/x?token=hf_0123456789abcdef "
        "with Authorization: Bearer hf_0123456789abcdef and key gsk_ABCDEFGH12345678"
    )
    pod = view_pod(
        _pod_dict(
            {
                "phase": "Running",
                "containerStatuses": [
                    {"restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                     "lastState": {"terminated": {"exitCode": 1, "message": said}}}
                ],
            }
        )
    )  # fmt: skip
    assert pod.last_exit is not None and "401 Client Error" in pod.last_exit
    for secret in ("hf_0123456789abcdef", "gsk_ABCDEFGH12345678", "Bearer hf_"):
        assert secret not in pod.last_exit
    verdicts = judge(wanted=1, sizing_error=None, observed=_observed(pod))
    assert "hf_0123456789abcdef" not in verdicts["Ready"].message


def test_adapters_all_removed_from_the_spec_are_removed_from_the_status_too() -> None:
    serving = _pod(adapters=("acme-sql",))

    def status(adapters: list[str], previous: dict[str, Any]) -> dict[str, Any]:
        return to_wire(
            compute_status(
                cr_name="chat",
                namespace="ml",
                generation=1,
                wanted=1,
                sizing=None,
                sizing_error=None,
                observed=Observed(_deployment(ready=1), (serving,), None),
                previous=previous,
                now=NOW,
                served_model_name="gpt-oss-20b",
                adapters=adapters,
            )
        )

    before = status(["acme-sql"], {})
    assert before["adapters"][0]["name"] == "acme-sql"
    patch = status_patch(before, status([], before))
    assert patch is not None
    assert patch["adapters"] is None  # a merge patch's null deletes the key
