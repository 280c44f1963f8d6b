"""Reading the autoscaler's signals: each ready replica's vLLM queue and token counters from its
Prometheus text (the same series dashboards use), the text of a router's ``/metrics``; and
turning counters read a tick apart into smoothed token rates (``DemandMeter``, pure).

The operator pulls the routers' ``/metrics`` rather than the routers pushing to the CR: the
operator stays the only writer of replicas, the router needs no write access to the cluster,
and the numbers are exactly the ones Prometheus records. A read that does not answer within the
client's timeout gives ``None`` rather than waiting: a slow pod must not hold up scaling of the
others (aibrix #1032, kthena #1403); what a missing reading means for the decision is
``decide``'s (it never scales down without it).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gptoss_operator.autoscaling.spill import RouterSpill, finite_count

__all__ = ["DemandMeter", "PodQueue", "parse_vllm", "read_pod", "read_text"]

_SETTLED = 1.0 - math.exp(-1.0)  # the weight a whole window of measured ticks carries


@dataclass(frozen=True)
class PodQueue:
    waiting: int
    running: int
    generation_tokens: float = 0.0  # vllm:generation_tokens_total (counter)
    prompt_tokens: float = 0.0  # vllm:prompt_tokens_total (counter)
    finished: float = 0.0  # vllm:request_success_total over finish reasons (counter)


_READ = frozenset(
    {
        "vllm:num_requests_waiting",
        "vllm:num_requests_running",
        "vllm:generation_tokens",
        "vllm:prompt_tokens",
        "vllm:request_success",
    }
)


def parse_vllm(text: str) -> PodQueue:
    """The queue and counters in a vLLM pod's Prometheus text, summed over label sets.

    A value the autoscaler reads that is not a finite count (NaN, infinite or negative) makes
    the whole text unreadable (``ValueError``): the pod counts as not read, never as a figure.
    """
    sums: defaultdict[str, float] = defaultdict(float)
    for metric in text_string_to_metric_families(text):
        for sample in metric.samples:
            name = sample.name.removesuffix("_total")
            if name in _READ:
                sums[name] += finite_count(sample.name, sample.value)
    return PodQueue(
        waiting=int(sums["vllm:num_requests_waiting"]),
        running=int(sums["vllm:num_requests_running"]),
        generation_tokens=sums["vllm:generation_tokens"],
        prompt_tokens=sums["vllm:prompt_tokens"],
        finished=sums["vllm:request_success"],
    )


async def read_text(http: httpx.AsyncClient, url: str) -> str | None:
    """The body at ``url``, or None if it did not answer (in time, or with 2xx)."""
    try:
        response = await http.get(url)
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    return response.text


async def read_pod(http: httpx.AsyncClient, url: str) -> PodQueue | None:
    """A replica's queue, or None if it did not answer in time or not in Prometheus text."""
    text = await read_text(http, url)
    try:
        return None if text is None else parse_vllm(text)
    except ValueError:
        return None


@dataclass
class DemandMeter:
    """A model's token rates from counters read a tick apart, smoothed over ``window_s``.

    Only pods seen in both readings count (a new pod's counters start from its own zero, a
    restarted one's go back), so pods coming and going do not fake a burst. Spilled requests are
    counted in output tokens at the length this model's local requests had (the router counts
    tokens per provider, not per model); while no local request finishes, the length and input
    ratio of what the providers served (all models) stand in. Before either, a reply is taken to
    be 1024 tokens (the router's own default) and a prompt as long as its reply. Requests no
    backend served (providers spent or failing) are demand too; their rate smoothed like the
    demand (``unserved_minute_per_s``) is the cost policy's sign that the providers cannot take
    the overflow, and their rate over the last tick alone (``unserved_per_s``) how much of it.

    A tick with a source missing (a ready replica's or a router's metrics unread) teaches the
    meter nothing, and neither does the next: the missing source's counters are not in the
    readings it would be measured between, so its demand would read as a drop, and what it
    counted while silent as one tick's burst. The rates stay as the last complete pair of
    readings left them, and ``fresh`` is False: nothing is learnt from such a tick.

    The rates start from the first measured tick, not from zero: each is the average of the
    ticks measured so far as the window weighs them (an exponential average with its start-up
    bias divided out, as Adam's moments are: Kingma and Ba, 2015). A new meter (an operator
    restarted, a new leader) so reads the demand as it is, not as a rise from nothing that
    would look like demand falling away. Until one window has been measured its figures are
    short of a window's evidence, and ``settled`` is False.

    ``pods_counted`` is how many replicas the last tick's local rate covers (those read in both
    readings, their counters not gone back).
    """

    window_s: float = 60.0
    local_tokens_per_s: float = 0.0  # output tokens/s the ready replicas produce
    local_tick_tokens_per_s: float = 0.0  # the same over the last tick alone
    spilled_per_s: float = 0.0  # requests/s the router sent to providers or could not serve
    spilled_tick_per_s: float = 0.0  # the same over the last tick alone
    unserved_per_s: float = 0.0  # requests/s no backend served, over the last tick alone
    unserved_minute_per_s: float = 0.0  # the same, smoothed like the demand
    hosted_per_s: float = 0.0  # requests/s the providers served
    hosted_tick_per_s: float = 0.0  # the same over the last tick alone
    output_per_request: float = 1024.0
    input_per_output: float = 1.0
    pods_counted: int = 0
    fresh: bool = False  # whether the last reading measured its tick (else: rates held)
    _pods: dict[str, PodQueue] = field(default_factory=dict)
    _spilled: RouterSpill | None = None
    _last: float | None = None
    _complete: bool = False  # whether the last reading had every source
    _covered: float = 0.0  # the weight the measured ticks carry: 1 - prod(1 - weight)

    @property
    def settled(self) -> bool:
        """Whether a whole window of ticks has been measured."""
        return self._covered >= _SETTLED

    @property
    def tokens_per_s(self) -> float:
        """All the model's demand in output tokens/s: served locally and spilled."""
        return self.local_tokens_per_s + self.spilled_per_s * self.output_per_request

    @property
    def tick_tokens_per_s(self) -> float:
        """All the model's demand over the last tick alone, in output tokens/s."""
        return self.local_tick_tokens_per_s + self.spilled_tick_per_s * self.output_per_request

    @property
    def hosted_tokens_per_s(self) -> float:
        """Output tokens/s of what the providers served (smoothed like the demand)."""
        return self.hosted_per_s * self.output_per_request

    @property
    def hosted_tick_tokens_per_s(self) -> float:
        """Output tokens/s of what the providers served during the last tick."""
        return self.hosted_tick_per_s * self.output_per_request

    @property
    def unserved_tokens_per_s(self) -> float:
        """Output tokens/s of the requests no backend served during the last tick."""
        return self.unserved_per_s * self.output_per_request

    @property
    def unserved_minute_tokens_per_s(self) -> float:
        """Output tokens/s of the requests no backend served, smoothed over ``window_s``."""
        return self.unserved_minute_per_s * self.output_per_request

    def observe(
        self, now: float, pods: dict[str, PodQueue], router: RouterSpill, *, complete: bool = True
    ) -> None:
        """Read the counters of ``pods`` (the ready replicas that answered) and ``router`` (every
        router summed) at ``now``; ``complete``: no replica's or router's metrics are missing."""
        previous, before, last = self._pods, self._spilled, self._last
        was_complete, self._complete = self._complete, complete
        self._pods, self._spilled, self._last = dict(pods), router, now
        self.fresh = False
        if last is None or now <= last or not (complete and was_complete):
            return
        self.fresh = True
        elapsed = now - last
        weight = 1.0 - math.exp(-elapsed / self.window_s)
        self._covered += weight * (1.0 - self._covered)
        step = weight / self._covered  # the rates' step, their start-up bias divided out
        deltas = [
            (
                q.generation_tokens - p.generation_tokens,
                q.prompt_tokens - p.prompt_tokens,
                q.finished - p.finished,
            )
            for key, q in pods.items()
            if (p := previous.get(key)) is not None and q.generation_tokens >= p.generation_tokens
        ]
        self.pods_counted = len(deltas)
        generated = sum(d[0] for d in deltas)
        prompted = sum(max(d[1], 0.0) for d in deltas)
        finished = sum(max(d[2], 0.0) for d in deltas)
        spilled = unserved = 0.0
        if before is not None and router.total >= before.total:
            spilled = router.total - before.total
        if before is not None and router.unserved >= before.unserved:
            unserved = router.unserved - before.unserved
        self.unserved_per_s = unserved / elapsed
        self.unserved_minute_per_s += step * (self.unserved_per_s - self.unserved_minute_per_s)
        self.local_tick_tokens_per_s = generated / elapsed
        self.local_tokens_per_s += step * (generated / elapsed - self.local_tokens_per_s)
        self.spilled_tick_per_s = (spilled + unserved) / elapsed
        self.spilled_per_s += step * (self.spilled_tick_per_s - self.spilled_per_s)
        self.hosted_tick_per_s = spilled / elapsed
        self.hosted_per_s += step * (self.hosted_tick_per_s - self.hosted_per_s)
        if not (finished > 0 and generated > 0) and before is not None:
            finished = max(0.0, router.hosted_requests - before.hosted_requests)
            generated = max(0.0, router.hosted_output_tokens - before.hosted_output_tokens)
            prompted = max(0.0, router.hosted_input_tokens - before.hosted_input_tokens)
        if finished > 0 and generated > 0:
            self.output_per_request += weight * (generated / finished - self.output_per_request)
            self.input_per_output += weight * (prompted / generated - self.input_per_output)
