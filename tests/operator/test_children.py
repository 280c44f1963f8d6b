"""What the operator builds for a GptOssDeployment (pure builders, no cluster)."""

from __future__ import annotations

from typing import Any

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.children.deployment import Owner, PodExtras, build_deployment
from gptoss_operator.children.fence import Clients, build_fence
from gptoss_operator.children.network import build_pdb, build_service
from gptoss_operator.children.probes import STARTUP_PERIOD_SECONDS
from gptoss_operator.children.storage import build_download_job
from gptoss_operator.placement.gpus import product_named
from gptoss_operator.placement.sizing import size_spec
from gptoss_operator.placement.weights import plan_weights
from gptoss_operator.reconciling.planning import plan, vllm_clients
from gptoss_operator.settings import OperatorSettings

OWNER = Owner(name="chat", namespace="ml", uid="0000-1111")
SETTINGS = OperatorSettings()


def _spec(**spec: Any) -> GptOssDeploymentSpec:
    return GptOssDeploymentSpec.model_validate(spec)


def _deployment(spec: GptOssDeploymentSpec, extras: PodExtras | None = None) -> dict[str, Any]:
    sizing = size_spec(spec)
    weights = plan_weights(OWNER.name, spec, image="vllm/vllm-openai:test")
    return build_deployment(
        OWNER,
        spec,
        sizing,
        weights,
        replicas=spec.replicas,
        image="vllm/vllm-openai:test",
        extras=extras or PodExtras(),
        startup_timeout_seconds=SETTINGS.startup_timeout_seconds,
        shm_size=SETTINGS.shm_size,
    )


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def _flag(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


H100_120B = _spec(model="gpt-oss-120b", gpu={"product": "H100-80GB"})


def test_a_replica_requests_its_gpus_and_is_pinned_to_the_product_label() -> None:
    deployment = _deployment(H100_120B)
    pod = deployment["spec"]["template"]["spec"]
    gpus = str(size_spec(H100_120B).tensor_parallel_size)
    assert _container(deployment)["resources"]["limits"]["nvidia.com/gpu"] == gpus
    assert _container(deployment)["resources"]["requests"]["nvidia.com/gpu"] == gpus
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]


def test_a_custom_gpu_resource_still_tolerates_the_vendors_gpu_taint() -> None:
    """Time-sliced or MIG resources live on nodes tainted with the vendor's key (the GPU
    operator's and GKE's nvidia.com/gpu): tolerating only the custom name leaves pods Pending."""
    shared = _spec(
        model="gpt-oss-20b", gpu={"product": "H100-80GB", "resourceName": "nvidia.com/gpu.shared"}
    )
    deployment = _deployment(shared)
    pod = deployment["spec"]["template"]["spec"]
    assert _container(deployment)["resources"]["limits"]["nvidia.com/gpu.shared"] == "1"
    keys = [t["key"] for t in pod["tolerations"] if t["effect"] == "NoSchedule"]
    assert keys == ["nvidia.com/gpu", "nvidia.com/gpu.shared"]
    assert [
        t["key"] for t in _deployment(H100_120B)["spec"]["template"]["spec"]["tolerations"]
    ] == ["nvidia.com/gpu"]


def test_rollouts_never_need_a_spare_gpu() -> None:
    strategy = _deployment(H100_120B)["spec"]["strategy"]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }


def test_the_startup_probe_outlasts_the_load_budget_and_guards_liveness() -> None:
    container = _container(_deployment(H100_120B))
    startup = container["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert startup["periodSeconds"] == STARTUP_PERIOD_SECONDS
    assert budget >= SETTINGS.startup_timeout_seconds
    for probe in ("livenessProbe", "readinessProbe"):
        assert "initialDelaySeconds" not in container[probe]
        assert container[probe]["httpGet"]["path"] == "/health"


def test_vllm_serves_the_model_by_name_with_sized_and_recipe_flags() -> None:
    args = _container(_deployment(H100_120B))["args"]
    sizing = size_spec(H100_120B)
    assert args[0] == "openai/gpt-oss-120b"
    assert _flag(args, "--served-model-name") == "gpt-oss-120b"
    assert _flag(args, "--tensor-parallel-size") == str(sizing.tensor_parallel_size)
    assert _flag(args, "--max-model-len") == str(sizing.max_model_len)
    assert _flag(args, "--tool-call-parser") == "openai"
    assert "--enable-auto-tool-choice" in args
    assert _flag(args, "--reasoning-parser") == "openai_gptoss"
    for recipe_arg in sizing.recipe.args:
        assert recipe_arg in args


def test_amd_replicas_request_amd_gpus_with_the_rocm_recipe_environment() -> None:
    spec = _spec(model="gpt-oss-120b", gpu={"product": "MI300X"})
    deployment = _deployment(spec)
    container = _container(deployment)
    env = {e["name"]: e["value"] for e in container["env"]}
    assert "amd.com/gpu" in container["resources"]["limits"]
    assert env["VLLM_ROCM_USE_AITER"] == "1"
    selector = deployment["spec"]["template"]["spec"]["nodeSelector"]
    assert selector == {"amd.com/gpu.product-name": product_named("MI300X").label_value}


def test_the_operator_defaults_the_image_per_vendor_and_the_spec_can_override_it() -> None:
    body = {"metadata": {"name": "a", "namespace": "n", "uid": "u"}, "spec": {}}
    amd = plan({**body, "spec": {"model": "gpt-oss-20b", "gpu": {"product": "MI300X"}}}, SETTINGS)
    nvidia = plan({**body, "spec": {"model": "gpt-oss-20b", "gpu": {"product": "L4"}}}, SETTINGS)
    mine = plan(
        {
            **body,
            "spec": {
                "model": "gpt-oss-20b",
                "gpu": {"product": "L4"},
                "serving": {"image": "registry.local/vllm:1"},
            },
        },
        SETTINGS,
    )
    assert amd.image == SETTINGS.vllm_image_amd
    assert nvidia.image == SETTINGS.vllm_image_nvidia
    assert mine.image == "registry.local/vllm:1"


def test_a_spec_that_cannot_fit_is_planned_as_an_error_not_built() -> None:
    body = {
        "metadata": {"name": "a", "namespace": "n", "uid": "u"},
        "spec": {"model": "gpt-oss-120b", "gpu": {"product": "L4", "count": 1}},
    }
    decided = plan(body, SETTINGS)
    assert decided.sizing is None and decided.weights is None
    assert decided.sizing_error is not None and "does not fit" in decided.sizing_error


def test_the_public_checkpoint_downloads_into_a_model_cache_volume() -> None:
    weights = plan_weights("chat", H100_120B, image="img")
    assert weights.model_arg == "openai/gpt-oss-120b"
    assert weights.env["HF_HOME"].startswith("/models")
    assert weights.download is None and weights.claim_name is None


def test_a_checkpoint_on_a_volume_is_mounted_read_only_and_the_hub_is_off() -> None:
    spec = _spec(
        model="gpt-oss-20b",
        gpu={"product": "H100-80GB"},
        source={"uri": "pvc://finetunes/gpt-oss-20b-support"},
    )
    weights = plan_weights("chat", spec, image="img")
    assert weights.model_arg == "/weights/gpt-oss-20b-support"
    assert weights.volumes[0]["persistentVolumeClaim"] == {
        "claimName": "finetunes",
        "readOnly": True,
    }
    assert weights.mounts[0]["readOnly"] is True
    assert weights.env["HF_HUB_OFFLINE"] == "1"


def test_object_store_weights_without_a_claim_are_copied_by_an_init_container() -> None:
    spec = _spec(
        model="gpt-oss-20b",
        gpu={"product": "MI300X"},
        source={"uri": "s3://models/openai/gpt-oss-20b", "secretName": "store"},
    )
    weights = plan_weights("chat", spec, image="img")
    (init,) = weights.init_containers
    assert init["command"][:3] == ["aws", "s3", "sync"]
    assert init["envFrom"] == [{"secretRef": {"name": "store"}}]
    assert weights.model_arg == init["command"][4]
    assert weights.download is None


def test_a_cache_claim_is_filled_once_by_a_job_that_skips_unused_folders() -> None:
    spec = _spec(
        model="gpt-oss-120b", gpu={"product": "H100-80GB"}, cache={"pvc": {"size": "200Gi"}}
    )
    weights = plan_weights("chat", spec, image="img")
    assert weights.claim_name == "chat-weights"
    assert weights.download is not None
    job = build_download_job(OWNER, spec.model, weights.download, weights.claim_name)
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:3] == ["hf", "download", "openai/gpt-oss-120b"]
    assert "original/*" in command and "metal/*" in command
    assert _flag(command, "--local-dir") == weights.model_arg


def test_air_gapped_replicas_get_the_harmony_vocabulary_from_a_mirror() -> None:
    spec = _spec(
        model="gpt-oss-20b",
        gpu={"product": "H100-80GB"},
        cache={"tiktokenEncodingsUrl": "http://mirror.internal/tiktoken"},
    )
    weights = plan_weights("chat", spec, image="img")
    assert weights.env["TIKTOKEN_ENCODINGS_BASE"] == "/tiktoken"
    script = weights.init_containers[0]["command"][-1]
    assert "http://mirror.internal/tiktoken/o200k_base.tiktoken" in script


def test_pod_labels_pass_through_but_cannot_move_the_selector() -> None:
    extras = PodExtras(
        labels={"team": "ml", "gptoss.dev/deployment": "other"},
        annotations={"sidecar.istio.io/inject": "false"},
    )
    template = _deployment(H100_120B, extras)["spec"]["template"]
    assert template["metadata"]["labels"]["team"] == "ml"
    assert template["metadata"]["labels"]["gptoss.dev/deployment"] == "chat"
    assert template["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}


def test_every_child_is_owned_by_the_cr_so_deleting_it_cleans_up() -> None:
    children = [
        _deployment(H100_120B),
        build_service(OWNER, "gpt-oss-120b"),
        build_pdb(OWNER, "gpt-oss-120b"),
        build_fence(OWNER, "gpt-oss-120b", Clients("gptoss", ({"app": "router"},))),
    ]
    for child in children:
        (reference,) = child["metadata"]["ownerReferences"]
        assert reference["uid"] == OWNER.uid and reference["controller"] is True
        assert child["metadata"]["namespace"] == OWNER.namespace


def test_the_service_selects_exactly_the_replicas_the_deployment_runs() -> None:
    deployment = _deployment(H100_120B)
    service = build_service(OWNER, "gpt-oss-120b")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in service["spec"]["selector"].items())


ROUTER = {"app.kubernetes.io/instance": "gptoss", "app.kubernetes.io/component": "router"}
OPERATOR = {"app.kubernetes.io/instance": "gptoss", "app.kubernetes.io/component": "operator"}


def test_only_the_router_and_the_operator_reach_the_vllm_port() -> None:
    fence = build_fence(OWNER, "gpt-oss-120b", Clients("gptoss", (ROUTER, OPERATOR)))
    deployment = _deployment(H100_120B)
    assert fence["kind"] == "NetworkPolicy"
    assert fence["spec"]["podSelector"] == deployment["spec"]["selector"]
    assert fence["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = fence["spec"]["ingress"]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    in_gptoss = {"matchLabels": {"kubernetes.io/metadata.name": "gptoss"}}
    assert rule["from"] == [
        {"namespaceSelector": in_gptoss, "podSelector": {"matchLabels": ROUTER}},
        {"namespaceSelector": in_gptoss, "podSelector": {"matchLabels": OPERATOR}},
    ]


def test_vllm_pods_are_fenced_only_when_the_settings_name_both_namespace_and_pods() -> None:
    assert vllm_clients(OperatorSettings()) is None
    assert vllm_clients(OperatorSettings(vllm_clients_namespace="gptoss")) is None
    assert vllm_clients(OperatorSettings(vllm_client_labels=[ROUTER])) is None
    both = OperatorSettings(vllm_clients_namespace="gptoss", vllm_client_labels=[ROUTER])
    assert vllm_clients(both) == Clients("gptoss", (ROUTER,))
