"""Reading the autoscaler's signals: each ready replica's vLLM queue and token counters and the
router's spilled demand, all from Prometheus text (the same series dashboards use); and turning
counters read a tick apart into smoothed token rates (``DemandMeter``, pure).

The operator pulls the router's ``/metrics`` rather than the router pushing to the CR: the
operator stays the only writer of replicas, the router needs no write access to the cluster,
and the numbers are exactly the ones Prometheus records. Replicas whose metrics cannot be read
within the timeout are left out of the observation (a slow pod must not hold up scaling of the
others, aibrix #1032, kthena #1403).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "DemandMeter",
    "PodQueue",
    "RouterSpill",
    "parse_router",
    "parse_vllm",
    "read_pod",
]


@dataclass(frozen=True)
class PodQueue:
    waiting: int
    running: int
    generation_tokens: float = 0.0  # vllm:generation_tokens_total (counter)
    prompt_tokens: float = 0.0  # vllm:prompt_tokens_total (counter)
    finished: float = 0.0  # vllm:request_success_total over finish reasons (counter)


@dataclass(frozen=True)
class RouterSpill:
    inflight: int  # gptoss_router_spilled_inflight{model}
    total: int  # gptoss_router_spilled_requests_total{model}, summed over reasons
    # Counters of what providers served, over all models (the router's token counter has no
    # model label): requests, input and output tokens.
    hosted_requests: float = 0.0
    hosted_input_tokens: float = 0.0
    hosted_output_tokens: float = 0.0


def _sum(
    text: str,
    name: str,
    model: str | None = None,
    where: Callable[[dict[str, str]], bool] | None = None,
) -> float:
    """Sum of the samples called ``name`` (or ``name_total``), for ``model`` if given."""
    wanted = {name, f"{name}_total"}
    total = 0.0
    for metric in text_string_to_metric_families(text):
        for sample in metric.samples:
            if sample.name not in wanted:
                continue
            if model is not None and sample.labels.get("model") != model:
                continue
            if where is not None and not where(sample.labels):
                continue
            total += sample.value
    return total


def _hosted(labels: dict[str, str]) -> bool:
    return labels.get("backend") not in ("local", "none")


def parse_vllm(text: str) -> PodQueue:
    return PodQueue(
        waiting=int(_sum(text, "vllm:num_requests_waiting")),
        running=int(_sum(text, "vllm:num_requests_running")),
        generation_tokens=_sum(text, "vllm:generation_tokens"),
        prompt_tokens=_sum(text, "vllm:prompt_tokens"),
        finished=_sum(text, "vllm:request_success"),
    )


def parse_router(text: str, model: str) -> RouterSpill:
    # Requests the router holds for want of a local pod (the model may not spill) are demand
    # the replicas did not absorb, like spilled ones: they count in ``inflight``.
    held = _sum(text, "gptoss_router_held_requests", model)
    return RouterSpill(
        inflight=int(_sum(text, "gptoss_router_spilled_inflight", model) + held),
        total=int(_sum(text, "gptoss_router_spilled_requests", model)),
        hosted_requests=_sum(text, "gptoss_router_requests", where=_hosted),
        hosted_input_tokens=_sum(
            text, "gptoss_router_tokens", where=lambda x: _hosted(x) and x["direction"] == "input"
        ),
        hosted_output_tokens=_sum(
            text, "gptoss_router_tokens", where=lambda x: _hosted(x) and x["direction"] == "output"
        ),
    )


async def read_pod(http: httpx.AsyncClient, url: str) -> PodQueue | None:
    """A replica's queue, or None if it did not answer within the client's timeout."""
    try:
        response = await http.get(url)
        response.raise_for_status()
        return parse_vllm(response.text)
    except (httpx.HTTPError, ValueError):
        return None


@dataclass
class DemandMeter:
    """A model's token rates from counters read a tick apart, smoothed over ``window_s``.

    Only pods seen in both readings count (a new pod's counters start from its own zero, a
    restarted one's go back), so pods coming and going do not fake a burst. Spilled requests are
    counted in output tokens at the length this model's local requests had (the router counts
    tokens per provider, not per model); while no local request finishes, the length and input
    ratio of what the providers served (all models) stand in. Before either, a reply is taken to
    be 1024 tokens (the router's own default) and a prompt as long as its reply.
    """

    window_s: float = 60.0
    local_tokens_per_s: float = 0.0  # output tokens/s the ready replicas produce
    spilled_per_s: float = 0.0  # requests/s the router sent to providers
    output_per_request: float = 1024.0
    input_per_output: float = 1.0
    _pods: dict[str, PodQueue] = field(default_factory=dict)
    _spilled: RouterSpill | None = None
    _last: float | None = None

    @property
    def tokens_per_s(self) -> float:
        """All the model's demand in output tokens/s: served locally and spilled."""
        return self.local_tokens_per_s + self.spilled_per_s * self.output_per_request

    def observe(self, now: float, pods: dict[str, PodQueue], router: RouterSpill) -> None:
        previous, before, last = self._pods, self._spilled, self._last
        self._pods, self._spilled, self._last = dict(pods), router, now
        if last is None or now <= last:
            return
        elapsed = now - last
        weight = 1.0 - math.exp(-elapsed / self.window_s)
        deltas = [
            (
                q.generation_tokens - p.generation_tokens,
                q.prompt_tokens - p.prompt_tokens,
                q.finished - p.finished,
            )
            for key, q in pods.items()
            if (p := previous.get(key)) is not None and q.generation_tokens >= p.generation_tokens
        ]
        generated = sum(d[0] for d in deltas)
        prompted = sum(max(d[1], 0.0) for d in deltas)
        finished = sum(max(d[2], 0.0) for d in deltas)
        spilled = 0.0
        if before is not None and router.total >= before.total:
            spilled = router.total - before.total
        self.local_tokens_per_s += weight * (generated / elapsed - self.local_tokens_per_s)
        self.spilled_per_s += weight * (spilled / elapsed - self.spilled_per_s)
        if not (finished > 0 and generated > 0) and before is not None:
            finished = max(0.0, router.hosted_requests - before.hosted_requests)
            generated = max(0.0, router.hosted_output_tokens - before.hosted_output_tokens)
            prompted = max(0.0, router.hosted_input_tokens - before.hosted_input_tokens)
        if finished > 0 and generated > 0:
            self.output_per_request += weight * (generated / finished - self.output_per_request)
            self.input_per_output += weight * (prompted / generated - self.input_per_output)
