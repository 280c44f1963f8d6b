"""vLLM's Prometheus metrics, under their real names and types, in an injected registry.

Names, types and labels follow docs/sources.md, vLLM metrics (vLLM ``vllm/v1/metrics/loggers.py``
and ``docs/design/metrics.md``): every series carries ``model_name`` and ``engine``; counters
are exposed with the ``_total`` suffix; ``vllm:kv_cache_usage_perc`` replaced the removed
``vllm:gpu_cache_usage_perc`` (vLLM PRs #18354, #29330). The prefix-cache counters count tokens
(``vllm:prefix_cache_queries`` / ``vllm:prefix_cache_hits``, vLLM 0.17.0
``vllm/v1/metrics/loggers.py``), and ``vllm:cache_config_info`` carries the cache config as
labels plus ``engine`` (``log_metrics_info``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gptoss_sim.capacity import CapacityParams
from gptoss_sim.engine_state import EngineState, Seq, TokenEvent

# Bucket edges as vLLM declares them: TTFT 0.001 … 2560 s, e2e 0.3 … 7680 s
# (docs/sources.md, vLLM metrics).
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
    1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
E2E_BUCKETS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0,
    30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip
LABELS = ("model_name", "engine")
SOURCES = ("local_compute", "local_cache_hit", "external_kv_transfer")


class VllmMetrics:
    """The metric families one simulated vLLM server exposes."""

    def __init__(
        self, registry: CollectorRegistry, model_name: str, *, max_loras: int | None = None
    ) -> None:
        self._labels = {"model_name": model_name, "engine": "0"}
        labels = self._labels

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, LABELS, registry=registry)

        self.running = gauge("vllm:num_requests_running", "Requests in model execution batches.")
        self.waiting = gauge("vllm:num_requests_waiting", "Requests waiting to be processed.")
        self.kv_usage = gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent.")
        self.cache_info = Gauge(
            "vllm:cache_config_info",
            "Information of the LLMEngine CacheConfig",
            ("block_size", "num_gpu_blocks", "enable_prefix_caching", "engine"),
            registry=registry,
        )
        self.prefix_queries = Counter(
            "vllm:prefix_cache_queries",
            "Prefix cache queries, in terms of number of queried tokens.",
            LABELS,
            registry=registry,
        )
        self.prefix_hits = Counter(
            "vllm:prefix_cache_hits",
            "Prefix cache hits, in terms of number of cached tokens.",
            LABELS,
            registry=registry,
        )
        self.preemptions = Counter(
            "vllm:num_preemptions", "Cumulative number of preemptions.", LABELS, registry=registry
        )
        self.prompt_tokens = Counter(
            "vllm:prompt_tokens", "Number of prefill tokens processed.", LABELS, registry=registry
        )
        self.prompt_tokens_by_source = Counter(
            "vllm:prompt_tokens_by_source",
            "Number of prompt tokens by source.",
            (*LABELS, "source"),
            registry=registry,
        )
        self.prompt_tokens_cached = Counter(
            "vllm:prompt_tokens_cached",
            "Number of cached prompt tokens (local + external).",
            LABELS,
            registry=registry,
        )
        self.prompt_tokens_recomputed = Counter(
            "vllm:prompt_tokens_recomputed",
            "Number of cached tokens recomputed for forward pass.",
            LABELS,
            registry=registry,
        )
        self.generation_tokens = Counter(
            "vllm:generation_tokens",
            "Number of generation tokens processed.",
            LABELS,
            registry=registry,
        )
        self.request_success = Counter(
            "vllm:request_success",
            "Count of successfully processed requests.",
            (*LABELS, "finished_reason"),
            registry=registry,
        )
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            LABELS,
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.e2e = Histogram(
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            LABELS,
            buckets=E2E_BUCKETS,
            registry=registry,
        )
        self.queue_time = Histogram(
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            LABELS,
            buckets=E2E_BUCKETS,
            registry=registry,
        )
        # vllm/v1/metrics/loggers.py: only with --enable-lora; each change of the adapter sets
        # adds a series whose value is the time it was set (set_to_current_time).
        self.lora_info = (
            Gauge(
                "vllm:lora_requests_info",
                "Running stats on lora requests.",
                ("max_lora", "waiting_lora_adapters", "running_lora_adapters"),
                registry=registry,
            )
            if max_loras is not None
            else None
        )
        self._max_loras = max_loras or 0
        if self.lora_info is not None:
            self.lora_requests((), ())
        # Touch every labelled child so the families show up before the first request.
        counters = (self.preemptions, self.prompt_tokens, self.generation_tokens)
        cache = (self.prefix_queries, self.prefix_hits)
        cached = (self.prompt_tokens_cached, self.prompt_tokens_recomputed)
        for family in (*counters, *cache, *cached):
            family.labels(**labels)
        for source in SOURCES:
            self.prompt_tokens_by_source.labels(**labels, source=source)
        for histogram in (self.ttft, self.e2e, self.queue_time):
            histogram.labels(**labels)

    def bind_engine(
        self,
        params: CapacityParams,
        running: Callable[[], float],
        waiting: Callable[[], float],
        kv_usage: Callable[[], float],
    ) -> None:
        """Read the queue gauges from the engine at scrape time."""
        self.running.labels(**self._labels).set_function(running)
        self.waiting.labels(**self._labels).set_function(waiting)
        self.kv_usage.labels(**self._labels).set_function(kv_usage)
        self.cache_info.labels(
            block_size=str(params.block_size),
            num_gpu_blocks=str(params.total_blocks),
            enable_prefix_caching=str(params.enable_prefix_caching),
            engine="0",
        ).set(1)

    def observe_step(
        self, events: tuple[TokenEvent, ...], before: EngineState, state: EngineState
    ) -> None:
        """Count the tokens, cache lookups and finished requests of one engine step."""
        labels = self._labels
        preempted = state.preemptions - before.preemptions
        if state.prefix_queries > before.prefix_queries:
            self.prefix_queries.labels(**labels).inc(state.prefix_queries - before.prefix_queries)
        if state.prefix_hits > before.prefix_hits:
            self.prefix_hits.labels(**labels).inc(state.prefix_hits - before.prefix_hits)
        if events:
            self.generation_tokens.labels(**labels).inc(len(events))
        if preempted:
            self.preemptions.labels(**labels).inc(preempted)
        if self.lora_info is not None:
            # Recorded every step, as vLLM's PrometheusStatLogger.record does.
            self.lora_requests(_adapters(state.running), _adapters(state.waiting))
        for event in events:
            seq = event.seq
            if seq.generated == 1:
                self.ttft.labels(**labels).observe(state.now - seq.arrived_at)
                self._count_prompt(seq.prompt_tokens, seq.cached_tokens or 0)
                if seq.scheduled_at is not None:
                    self.queue_time.labels(**labels).observe(seq.scheduled_at - seq.arrived_at)
            if event.finished:
                self.e2e.labels(**labels).observe(state.now - seq.arrived_at)

    def _count_prompt(self, prompt: int, cached: int) -> None:
        # vLLM PromptTokenStats.update_from_output: with the whole prompt but its last token
        # cached, that token is counted as recomputed and as a cache hit.
        labels = self._labels
        recomputed = 1 if cached + 1 == prompt else 0
        self.prompt_tokens.labels(**labels).inc(prompt)
        self.prompt_tokens_cached.labels(**labels).inc(cached)
        self.prompt_tokens_recomputed.labels(**labels).inc(recomputed)
        by_source = self.prompt_tokens_by_source
        by_source.labels(**labels, source="local_compute").inc(prompt - cached)
        by_source.labels(**labels, source="local_cache_hit").inc(cached + recomputed)

    def lora_requests(self, running: Iterable[str], waiting: Iterable[str]) -> None:
        """``vllm:lora_requests_info`` for the adapters running and waiting now."""
        if self.lora_info is None:
            return
        self.lora_info.labels(
            max_lora=str(self._max_loras),
            waiting_lora_adapters=",".join(waiting),
            running_lora_adapters=",".join(running),
        ).set_to_current_time()

    def finished(self, reason: str) -> None:
        self.request_success.labels(**self._labels, finished_reason=reason).inc()


def _adapters(seqs: Iterable[Seq]) -> list[str]:
    """The distinct adapters of ``seqs``, in the order they first appear."""
    return list(dict.fromkeys(s.lora for s in seqs if s.lora is not None))
