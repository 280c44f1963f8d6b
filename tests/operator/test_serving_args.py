"""The vLLM command line a replica would run is checked against vLLM's own flags before any pod
starts, and batch capacity follows vLLM's per-GPU defaults."""

from __future__ import annotations

import pytest

from gptoss_operator.api.spec import GptOssDeploymentSpec
from gptoss_operator.children.deployment import vllm_args
from gptoss_operator.placement.gpus import PRODUCTS, product_named
from gptoss_operator.placement.serving_args import (
    check_serving_args,
    max_num_seqs,
    sizing_overrides,
    vllm_version_of,
)
from gptoss_operator.reconciling.judging import judge
from gptoss_operator.reconciling.observe import DeploymentView, Observed
from gptoss_operator.reconciling.planning import plan
from gptoss_operator.settings import OperatorSettings
from gptoss_sim import cli as sim_cli
from gptoss_sim.vllm_app import VllmSim
from gptoss_sim.vllm_shim import GPU_MEMORY_ENV, GPU_NAME_ENV, simulator_args
from gptoss_vllmspec import load_cli
from tests.operator.engine_cache import predicted_cache_tokens
from tests.operator.gptoss_crd import EXAMPLES, load_yaml

PINNED_IMAGE = "vllm/vllm-openai:v0.17.0"


def _spec(**serving: object) -> GptOssDeploymentSpec:
    return GptOssDeploymentSpec.model_validate(
        {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}, "serving": serving}
    )


def _body(spec: dict[str, object], name: str = "chat") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "ml", "uid": "u"}, "spec": spec}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_builds_a_command_line_vllm_accepts(example: object) -> None:
    body = load_yaml(example)  # type: ignore[arg-type]
    body["metadata"].update(namespace="ml", uid="u")
    decided = plan(body, OperatorSettings())
    assert decided.sizing is not None and decided.weights is not None
    args = vllm_args(decided.spec, decided.sizing, decided.weights)
    assert vllm_version_of(decided.image) == "0.17.0"
    assert check_serving_args(decided.image, args) is None
    assert decided.serving_args_error is None


def test_a_misspelled_extra_flag_is_refused_naming_the_flag_and_the_field() -> None:
    body = _body(
        {
            "model": "gpt-oss-20b",
            "gpu": {"product": "H100-80GB"},
            "serving": {"extraArgs": ["--max-num-sequences", "64"]},
        }
    )
    decided = plan(body, OperatorSettings())
    assert decided.serving_args_error is not None
    assert "--max-num-sequences" in decided.serving_args_error
    assert "spec.serving.extraArgs" in decided.serving_args_error
    assert "vLLM 0.17.0" in decided.serving_args_error


def test_a_bad_choice_is_refused_with_vllms_choices() -> None:
    error = check_serving_args(PINNED_IMAGE, ["m", "--kv-cache-dtype", "fp9"])
    assert error is not None and "fp9" in error and "invalid choice" in error


def test_a_flag_only_the_newer_vllm_knows_is_judged_by_the_images_release() -> None:
    old, new = load_cli("0.17.0"), load_cli("0.32.0")
    newer_only = sorted(
        flag
        for flag, option in new.options.items()
        if not old.knows(flag) and not option.takes_value and flag.startswith("--")
    )
    assert newer_only, "0.32.0 adds boolean flags over 0.17.0"
    args = ["m", newer_only[0]]
    assert check_serving_args("vllm/vllm-openai:v0.17.0", args) is not None
    assert check_serving_args("vllm/vllm-openai:v0.32.0", args) is None


def test_an_image_of_an_unknown_vllm_release_is_not_second_guessed() -> None:
    assert vllm_version_of("registry.local/vllm@sha256:abc") is None
    assert check_serving_args("registry.local/vllm@sha256:abc", ["m", "--no-such-flag"]) is None
    assert check_serving_args("vllm/vllm-openai:v9.9.9", ["m", "--no-such-flag"]) is None


def test_an_invalid_command_line_with_no_replica_serving_is_not_ready_and_degraded() -> None:
    observed = Observed(deployment=None, pods=(), job=None)
    verdicts = judge(wanted=1, sizing_error=None, observed=observed, serving_args_error="bad")
    assert (verdicts["Ready"].status, verdicts["Ready"].reason) == ("False", "InvalidServingArgs")
    assert (verdicts["Degraded"].status, verdicts["Degraded"].reason) == (
        "True",
        "InvalidServingArgs",
    )
    assert verdicts["Progressing"].status == "False"


def test_replicas_of_the_last_valid_command_line_keep_serving_while_degraded() -> None:
    serving = DeploymentView(
        generation=1,
        observed_generation=1,
        replicas=1,
        ready_replicas=1,
        updated_replicas=1,
        progress_deadline_exceeded=False,
    )
    observed = Observed(deployment=serving, pods=(), job=None)
    verdicts = judge(wanted=1, sizing_error=None, observed=observed, serving_args_error="bad")
    assert verdicts["Ready"].reason == "Serving"
    assert verdicts["Degraded"].reason == "InvalidServingArgs"


@pytest.mark.parametrize(
    ("product", "expected"),
    [("H100-80GB", 1024), ("MI300X", 1024), ("A100-80GB", 256), ("L4", 256)],
)
def test_vllms_default_batch_is_256_on_a100_and_small_cards_and_1024_on_large_ones(
    product: str, expected: int
) -> None:
    assert product_named(product).vllm_default_max_num_seqs == expected
    spec = GptOssDeploymentSpec.model_validate(
        {"model": "gpt-oss-20b", "gpu": {"product": product}}
    )
    assert max_num_seqs(spec) == expected


def test_the_batch_size_given_in_the_spec_or_in_extra_args_wins_over_the_default() -> None:
    assert max_num_seqs(_spec(maxNumSeqs=32)) == 32
    assert max_num_seqs(_spec(extraArgs=["--max_num_seqs=48"])) == 48
    # argparse as vLLM configures it takes an unambiguous prefix as the whole flag
    assert max_num_seqs(_spec(extraArgs=["--max-num-seq", "40"])) == 40
    assert max_num_seqs(_spec(extraArgs=["--max-num-sequences", "48"])) == 1024


def test_every_catalog_product_gets_one_of_vllms_two_defaults() -> None:
    assert {p.vllm_default_max_num_seqs for p in PRODUCTS} <= {256, 1024}


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["-tp", "1"], "sets --tensor-parallel-size 1, which would replace the operator's sizing"),
        (["--max_model_len=262144"], "set spec.serving.maxModelLen instead"),
        (["--gpu-memory-util", "0.25"], "set spec.serving.gpuMemoryUtilization instead"),
        (["--max-num-batched-tokens", "4096"], "set spec.serving.maxNumBatchedTokens instead"),
        (["--max-loras", "8"], "set spec.serving.maxLoras instead"),
        (["--max-lora-rank", "64"], "set spec.serving.maxLoraRank instead"),
        (["--kv-cache-memory-bytes", "1000000"], "sets --kv-cache-memory-bytes 1000000"),
        (["--num-gpu-blocks-override", "10"], "remove it"),
        (["-pp", "2"], "sets --pipeline-parallel-size 2"),
        (["--data-parallel-size=2"], "set spec.gpu.count (the GPUs of one replica) or spec."),
        (["-dpl", "2"], "sets --data-parallel-size-local 2"),
    ],
)
def test_extra_args_that_override_the_sizing_are_refused_naming_what_to_set(
    extra: list[str], words: str
) -> None:
    said = sizing_overrides(_spec(extraArgs=extra))
    assert said is not None and words in said
    assert said.startswith("spec.serving.extraArgs sets ")
    spec = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}
    decided = plan(_body({**spec, "serving": {"extraArgs": extra}}), OperatorSettings())
    assert decided.serving_args_error == said


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--port", "9000"], "at the pod's IP on port 8000; remove it"),
        (["--host=127.0.0.1"], "at the pod's IP on port 8000; remove it"),
        (["--uds", "/tmp/vllm.sock"], "reach vLLM over plain HTTP"),
        (["--ssl-keyfile", "/k.pem", "--ssl-certfile", "/c.pem"], "over plain HTTP"),
        (["--served_model_name", "chat"], "set spec.servedModelName instead"),
        (["--api-key", "sk-local-123"], "the router calls vLLM without a key"),
    ],
)
def test_extra_args_that_would_unwire_the_pod_are_refused_naming_why_and_what_to_do(
    extra: list[str], words: str
) -> None:
    """vLLM takes the last of a flag given twice: these, after the operator's own, would move
    vLLM off the port the probes, the Service and the router use, or rename the model."""
    said = sizing_overrides(_spec(extraArgs=extra))
    assert said is not None and words in said
    assert said.startswith(
        f"spec.serving.extraArgs sets {extra[0].split('=')[0].replace('_', '-')}"
    )
    assert "sk-local-123" not in said and "9000" not in said
    # run as the operator would have, vLLM's own parser keeps the extraArgs' value, not its own
    decided = plan(
        _body({"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}), OperatorSettings()
    )
    assert decided.sizing is not None and decided.weights is not None
    args = vllm_args(decided.spec, decided.sizing, decided.weights)
    flag, _, value = extra[0].partition("=")
    given = value or extra[1]
    kept = load_cli("0.17.0").parse([*args, *extra]).get(flag)
    assert kept == given or kept == [given]


def test_a_newer_images_own_flag_beside_an_override_does_not_hide_the_override() -> None:
    """extraArgs are read with the image's vLLM: read with an older one, the flag only the newer
    one has made the whole line unreadable, and the override passed unchecked."""
    image = "vllm/vllm-openai:v0.32.0"
    extra = ["--shutdown-timeout", "30", "-tp", "1"]
    said = sizing_overrides(_spec(image=image, extraArgs=extra))
    assert said is not None and "sets --tensor-parallel-size 1" in said
    assert sizing_overrides(_spec(image=image, extraArgs=["--shutdown-timeout", "30"])) is None


def test_extra_args_the_sizing_does_not_own_pass() -> None:
    extra = ["--max-num-seqs", "64", "--enable-expert-parallel"]
    assert sizing_overrides(_spec(extraArgs=extra)) is None
    assert sizing_overrides(_spec()) is None


def test_the_refused_override_is_one_vllm_would_crash_loop_on() -> None:
    """Counterfactual: the command line the check refuses, run by the simulated vLLM on the
    H100 it was sized for, exits at startup with vLLM's own error."""
    serving = {"extraArgs": ["--gpu-memory-utilization", "0.25"]}
    body = _body({"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}, "serving": serving})
    decided = plan(body, OperatorSettings())
    assert decided.sizing is not None and decided.weights is not None
    args = vllm_args(decided.spec, decided.sizing, decided.weights)
    assert check_serving_args(decided.image, args) is None  # vLLM's parser alone accepts it
    argv = ["serve", *args]
    h100 = {GPU_NAME_ENV: "NVIDIA H100 80GB HBM3", GPU_MEMORY_ENV: "79.65"}
    with pytest.raises(SystemExit, match="No available memory for the cache blocks"):
        sim_cli.build(sim_cli.parser().parse_args(simulator_args(argv, h100)), {})


def _gpu_env(product: str) -> dict[str, str]:
    """What the simulated vLLM reads of its GPU, for a catalog product."""
    card = product_named(product)
    return {GPU_NAME_ENV: card.label_value, GPU_MEMORY_ENV: f"{card.memory_mib / 1024:.2f}"}


def _simulated_cache_tokens(spec: dict[str, object]) -> tuple[int, float]:
    """The KV cache the simulated vLLM builds from the command line the operator plans for
    ``spec``, and what the operator's sizing said it would hold (tokens on each GPU)."""
    decided = plan(_body(spec), OperatorSettings())
    assert decided.sizing is not None and decided.weights is not None, decided.sizing_error
    argv = ["serve", *vllm_args(decided.spec, decided.sizing, decided.weights)]
    env = _gpu_env(decided.spec.gpu.product)
    sim = sim_cli.build(sim_cli.parser().parse_args(simulator_args(argv, env)), {})
    assert isinstance(sim, VllmSim)
    return sim.config.capacity.kv_cache_tokens, predicted_cache_tokens(decided.sizing)


@pytest.mark.parametrize(
    ("product", "extra", "ratio"),
    [
        ("H100-80GB", ["--kv-cache-dtype", "fp8"], 2.0),
        ("H100-80GB", ["--kv-cache-dtype=fp8_e4m3", "--block-size", "64"], 2.0),
        ("H100-80GB", ["--kv-cache-dtype", "bfloat16"], 1.0),
        ("H100-80GB", ["--block-size", "32"], 1.0),
        ("B200", ["--kv-cache-dtype", "auto"], 0.5),
        ("B200", ["--kv-cache-dtype", "fp8"], 1.0),
    ],
)
def test_the_kv_cache_layout_chosen_in_extra_args_is_the_one_the_sizing_counts(
    product: str, extra: list[str], ratio: float
) -> None:
    """The H100 recipe keeps vLLM's bf16 cache and the B200 recipe asks for fp8; a deployment's
    own ``--kv-cache-dtype`` comes last and wins. The operator's figure for the cache follows
    what the simulated vLLM builds from the same command line, whichever layout it is."""
    base = {"model": "gpt-oss-120b", "gpu": {"product": product, "count": 2}}
    plain_engine, plain_said = _simulated_cache_tokens(base)
    engine, said = _simulated_cache_tokens({**base, "serving": {"extraArgs": extra}})
    assert plain_said == pytest.approx(plain_engine, rel=0.002)
    assert said == pytest.approx(engine, rel=0.002)
    assert engine / plain_engine == pytest.approx(ratio, rel=0.01)


@pytest.mark.parametrize(
    ("serving", "words"),
    [
        ({"maxNumSeqs": 1024, "maxNumBatchedTokens": 512}, "maxNumBatchedTokens 512 is below"),
        ({"maxNumBatchedTokens": 256, "extraArgs": ["--max-num-seqs", "300"]}, "the 300 seq"),
    ],
)
def test_a_scheduler_step_smaller_than_the_sequences_asked_for_is_refused(
    serving: dict[str, object], words: str
) -> None:
    spec = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}, "serving": serving}
    decided = plan(_body(spec), OperatorSettings())
    assert decided.serving_args_error is not None and words in decided.serving_args_error


def test_a_scheduler_step_as_large_as_the_sequences_passes() -> None:
    spec = {"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}}
    spec["serving"] = {"maxNumSeqs": 512, "maxNumBatchedTokens": 512}
    assert plan(_body(spec), OperatorSettings()).serving_args_error is None
