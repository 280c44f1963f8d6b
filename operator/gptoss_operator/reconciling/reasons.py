"""The reasons a GptOssDeployment's conditions give, as constants, and which of them warn.

A reason is part of the API: users alert on it, ``kubectl wait`` and dashboards read it. Each
condition reason here is what ``judging.judge`` can say; the Event of a change to one of
``WARNINGS`` is a Warning.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["WARNINGS", "ConditionType", "Reason"]


class ConditionType(StrEnum):
    READY = "Ready"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    INFERENCE_POOL_READY = "InferencePoolReady"  # only while spec.inferencePool.enabled
    METRICS_AVAILABLE = "MetricsAvailable"  # the autoscaler's, only while spec.autoscaling is set


class Reason(StrEnum):
    # Ready
    SERVING = "Serving"
    DOES_NOT_FIT = "DoesNotFit"
    NO_NODE_LARGE_ENOUGH = "NoNodeLargeEnough"
    INVALID_SERVING_ARGS = "InvalidServingArgs"
    INVALID_ADAPTERS = "InvalidAdapters"
    SERVED_NAME_TAKEN = "ServedNameTaken"
    SCALED_TO_ZERO = "ScaledToZero"
    DOWNLOADING_WEIGHTS = "DownloadingWeights"
    DOWNLOAD_FAILED = "DownloadFailed"
    WAITING_FOR_GPU_NODE = "WaitingForGPUNode"
    IMAGE_PULL_FAILING = "ImagePullFailing"
    CRASH_LOOPING = "CrashLooping"
    LOADING_WEIGHTS = "LoadingWeights"
    ENGINE_NOT_READY = "EngineNotReady"
    CREATING_PODS = "CreatingPods"
    POD_CREATION_FAILED = "PodCreationFailed"
    VOLUME_MOUNT_FAILED = "VolumeMountFailed"
    CONTAINER_CONFIG_INVALID = "ContainerConfigInvalid"
    INIT_CONTAINER_FAILED = "InitContainerFailed"
    CHILD_REJECTED = "ChildRejected"
    # Progressing
    ROLLING_OUT = "RollingOut"
    SCALING_UP = "ScalingUp"
    SCALING_DOWN = "ScalingDown"
    COMPLETE = "Complete"
    # Degraded
    ROLLOUT_STUCK = "RolloutStuck"
    REPLICAS_UNAVAILABLE = "ReplicasUnavailable"
    AS_EXPECTED = "AsExpected"
    # InferencePoolReady
    INFERENCE_POOL_APPLIED = "InferencePoolApplied"
    INFERENCE_POOL_CRD_MISSING = "InferencePoolCRDMissing"


WARNINGS = frozenset(
    {
        Reason.DOES_NOT_FIT,
        Reason.INFERENCE_POOL_CRD_MISSING,
        Reason.NO_NODE_LARGE_ENOUGH,
        Reason.INVALID_SERVING_ARGS,
        Reason.CHILD_REJECTED,
        Reason.INVALID_ADAPTERS,
        Reason.SERVED_NAME_TAKEN,
        Reason.DOWNLOAD_FAILED,
        Reason.WAITING_FOR_GPU_NODE,
        Reason.IMAGE_PULL_FAILING,
        Reason.CRASH_LOOPING,
        Reason.ROLLOUT_STUCK,
        Reason.POD_CREATION_FAILED,
        Reason.VOLUME_MOUNT_FAILED,
        Reason.CONTAINER_CONFIG_INVALID,
        Reason.INIT_CONTAINER_FAILED,
    }
)
