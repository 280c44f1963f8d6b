"""A credential in ``spec.serving.extraArgs`` never reaches status or an Event: vLLM's parser
and the API server quote the arguments they refuse, and the operator quotes them on, with each
secret-shaped string written as ``***`` (as it already did for a container's last log line)."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import httpx
import pytest

from gptoss_operator.api.redaction import redacted
from gptoss_operator.autoscaling.blindness import metrics_verdict
from gptoss_operator.autoscaling.readings import RouterReader, shown_url
from gptoss_operator.errors import KubeRejected
from gptoss_operator.kube.client import Kube
from gptoss_operator.reconciling.planning import plan
from gptoss_operator.reconciling.reconcile import reconcile
from gptoss_operator.settings import OperatorSettings
from tests.operator.memory_api import MemoryApi, cr

KEY = "sk-live-0123456789abcdef"


def _cr(*extra_args: str) -> dict[str, Any]:
    serving = {"extraArgs": list(extra_args)}
    return cr({"model": "gpt-oss-20b", "gpu": {"product": "H100-80GB"}, "serving": serving})


@pytest.mark.parametrize(
    ("args", "secret"),
    [
        (("--apikey=" + KEY,), KEY),
        (("--apikey", "plainpassphrase42"), "plainpassphrase42"),
        (("--hf-tokn", "hf_abcdefgh12345678"), "hf_abcdefgh12345678"),
    ],
)
def test_extra_args_vllm_refuses_are_named_without_the_secret_they_carry(
    args: tuple[str, ...], secret: str
) -> None:
    refused = plan(_cr(*args), OperatorSettings()).serving_args_error
    assert refused is not None and "unrecognized arguments" in refused
    assert args[0].split("=")[0] in refused  # the flag to fix is still named
    assert secret not in refused


class RefusingApi(MemoryApi):
    """Refuses the Deployment, quoting the value it refused as the API server does."""

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        if obj["kind"] == "Deployment":
            raise KubeRejected(
                "PATCH deployments/chat-vllm: 422 Unprocessable Entity: Deployment.apps "
                f'"chat-vllm" is invalid: spec.template.spec.containers[0].args: Invalid value: '
                f'"--api-key {KEY}"',
                status=422,
            )
        return super().apply(obj)


def test_a_child_the_api_server_refuses_is_reported_without_the_secret_it_quotes() -> None:
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    outcome = reconcile(_cr(), cast(Kube, RefusingApi()), OperatorSettings(), now=now)
    refused = [c for c in outcome.status["conditions"] if c["reason"] == "ChildRejected"]
    assert refused and "422 Unprocessable Entity" in refused[0]["message"]
    assert [e for e in outcome.events if e.reason == "ChildRejected"]
    assert KEY not in str(outcome.status)
    assert all(KEY not in event.message for event in outcome.events)


def test_redaction_keeps_the_words_around_a_secret() -> None:
    assert redacted(f"unrecognized arguments: --apikey={KEY}; fix it") == (
        "unrecognized arguments: --apikey=***; fix it"
    )
    assert redacted("--api-key s3cret --port 8000") == "--api-key *** --port 8000"
    assert redacted("Authorization: Bearer abc.def") == "Authorization: ***"
    for kept in ("--max-num-batched-tokens 8192", "the token budget is 5", "--api-key --port 1"):
        assert redacted(kept) == kept


def test_the_credentials_of_a_url_are_redacted_and_its_host_kept() -> None:
    assert redacted("GET https://ops:s3cret@router.example/metrics failed") == (
        "GET https://***@router.example/metrics failed"
    )
    assert redacted("see http://router.example:9090/metrics") == (
        "see http://router.example:9090/metrics"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://ops:s3cret@router.example:9443/metrics?token=abc", "router.example:9443/metrics"),
        ("http://10.0.0.7:9090/metrics", "10.0.0.7:9090/metrics"),
        ("not a url", "(a URL that does not parse)"),
    ],
)
def test_a_router_metrics_url_is_named_without_its_credentials_or_query(
    url: str, shown: str
) -> None:
    assert shown_url(url) == shown


async def test_a_silent_router_given_with_credentials_is_named_in_status_without_them() -> None:
    settings = OperatorSettings(router_metrics_url="https://ops:s3cret@127.0.0.1:1/metrics")
    async with httpx.AsyncClient(timeout=1.0) as http:
        reader = RouterReader(cast(Kube, MemoryApi()), settings, http)
        readings = await reader.read()
    (name,) = readings
    assert readings[name] is None  # nothing listens there
    verdict = metrics_verdict(tuple(readings), replicas=2)
    assert "s3cret" not in verdict.message and "ops" not in verdict.message
    assert "router 127.0.0.1:1/metrics" in verdict.message
