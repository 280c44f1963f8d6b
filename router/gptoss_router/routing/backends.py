"""The backends the router knows and their live state, turned into plans and targets.

Joins configuration (models, providers), local pools, outlier state, rate-limit state and
measured speed, and hands the pure ``policy.plan`` the views it needs. Holds no I/O.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from typing import Literal

from gptoss_router.config.models import ModelConfig
from gptoss_router.config.prices import Price
from gptoss_router.config.providers import ProviderConfig, ProviderKind
from gptoss_router.config.tuning import Tuning
from gptoss_router.openai.dialects import Dialect, dialect_for
from gptoss_router.openai.inbound import Inbound
from gptoss_router.routing.affinity import Ring, prefix_key
from gptoss_router.routing.holding import Wakeup
from gptoss_router.routing.policy import (
    Candidate,
    Demand,
    Limits,
    Plan,
    PodView,
    ProviderView,
    plan,
)
from gptoss_router.routing.served_models import ModelTable
from gptoss_router.settings import RouterSettings
from gptoss_router.state.hot_prefixes import HotPrefixes, WarmRoute
from gptoss_router.state.outliers import OutlierDetector
from gptoss_router.state.pools import LocalPools, Pod
from gptoss_router.state.provider_limits import RateLimitBook, limit_key
from gptoss_router.state.speed import SpeedBook, SpeedEstimate
from gptoss_router.state.tool_quality import ToolCallQuality
from gptoss_router.state.ttft_tail import TailBook

__all__ = ["Backends", "Target"]

_FREE = Price(input=0.0, output=0.0)
_MAX_MOVED = 100_000  # conversations whose pod is remembered (about 10 MB at most)
_VLLM = dialect_for(ProviderKind.VLLM)


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved candidate: where to send, how to speak, what it costs."""

    kind: Literal["local", "hosted"]
    key: str
    label: str
    base_url: str
    model_id: str
    dialect: Dialect
    headers: dict[str, str]
    price: Price
    # The model that answers when it is not the one asked for (a hosted base model answering
    # for a fine-tune that accepts it); replies name it, never the fine-tune.
    answers_as: str | None = None


class Backends:
    """Backends and their state; one per app."""

    def __init__(
        self, settings: RouterSettings, *, clock: Callable[[], float], rng: random.Random
    ) -> None:
        tuning: Tuning = settings.tuning
        self.settings = settings
        self._spent_wait_s = tuning.spent_wait_s  # read once: plan_for runs per request
        self.models = ModelTable(settings.models, cluster_read=settings.discovery != "kubernetes")
        # Fired when pods come, go or are scraped, or a backend is readmitted: held requests
        # plan again.
        self.wakeup = Wakeup()
        self.health = OutlierDetector(
            consecutive=tuning.consecutive_failures,
            base_ejection_s=tuning.base_ejection_s,
            max_ejection_s=tuning.max_ejection_s,
            clock=clock,
        )
        self.tool_quality = ToolCallQuality(
            min_validity=tuning.tool_call_min_validity,
            min_samples=tuning.tool_call_min_samples,
            window_s=tuning.tool_call_window_s,
            base_gate_s=tuning.tool_call_gate_s,
            max_gate_s=tuning.tool_call_max_gate_s,
            clock=clock,
        )
        # A pod that leaves takes its outlier, tool-call, tail and speed records with it, and a
        # pod that joins starts with none (an address may be reused).
        # The beginnings of prompts new pods are warmed with (watch.warming).
        self.hot = HotPrefixes()
        self._warm_prefixes = tuning.warm_prefixes
        self.pools = LocalPools(
            clock,
            on_change=self.wakeup.fire,
            on_leave=self._forget,
            on_join=self._sweep,
            warm=self._worth_warming,
        )
        self.limits = RateLimitBook(clock)
        self.speed = SpeedBook(alpha=tuning.ewma_alpha)
        # How slow each backend's slow first events are: attempts are hedged past it.
        self.tails = TailBook(
            quantile=tuning.hedge_quantile or 0.95, min_samples=tuning.hedge_min_samples
        )
        self._rng = rng
        self._clock = clock
        self._rings: dict[str, Ring] = {}
        # The pod each recent conversation (prefix key) went to, least recently routed first.
        self._moved: OrderedDict[int, str] = OrderedDict()
        self._providers = {p.name: p for p in settings.providers}
        # Local pods run vLLM: what its dialect serves is what a pod may be sent.
        self._local_capabilities = dialect_for(ProviderKind.VLLM).capabilities
        self._dialects = {
            p.name: dialect_for(p.kind, capabilities=p.capabilities, drop_params=p.drop_params)
            for p in settings.providers
        }

    def _worth_warming(self, model: str) -> bool:
        return self._warm_prefixes > 0 and self.hot.has(model)

    def _forget(self, key: str) -> None:
        self.health.forget(key)
        self.tool_quality.forget(key)
        self.tails.forget(key)
        self.speed.forget(key)

    def _sweep(self, joined: str) -> None:
        """A pod joined at ``joined``: nothing learnt of an earlier pod at that address is
        its (an address reused after a pod left), and nothing is kept of pods no pool holds (a
        stream that ended after its pod left wrote its health and speed back)."""
        books = (self.health, self.tool_quality, self.tails, self.speed)
        gone = {key for book in books for key in book.backends() if "://" in key}
        for key in (gone - self.pools.urls()) | {joined}:
            self._forget(key)

    def plan_for(self, inbound: Inbound, model: ModelConfig, limits: Limits) -> Plan:
        """Candidates for ``inbound`` (for ``model``, configured thus) under ``limits``.

        A request with tools skips backends gated for bad tool calls (``tool_quality``),
        unless that would leave it no candidate: a doubtful answer beats none. A chat or
        Responses request is counted towards the model's hot prefixes (a few a second are
        looked at)."""
        if self._warm_prefixes and inbound.route in ("chat", "responses"):
            route: WarmRoute = "chat" if inbound.route == "chat" else "responses"
            self.hot.observe(inbound.model, inbound.payload, self._clock(), route)
        if "tools" in inbound.features and self.settings.tuning.tool_call_min_validity > 0:
            gated = {key for key, m in self.tool_quality.gated() if m == inbound.model}
            if gated:
                chosen = self._plan(inbound, model, limits, gated)
                if chosen.candidates:
                    return chosen
        return self._plan(inbound, model, limits, frozenset())

    def _plan(
        self, inbound: Inbound, model: ModelConfig, limits: Limits, gated: AbstractSet[str]
    ) -> Plan:
        allowed = limits.namespaces
        pods = [
            self.pod_view(p, scraped=model.local.scrape)
            for p in self.pools.pods(inbound.model)
            if allowed is None or not p.namespace or p.namespace in allowed
        ]
        if gated:
            pods = [replace(p, ejected=True) if p.key in gated else p for p in pods]
        # Affinity only matters with a choice of pods; the key costs a hash of the prompt head.
        prefix = prefix_key(inbound.route, inbound.payload) if len(pods) > 1 else None
        demand = Demand(
            features=inbound.features,
            input_tokens=inbound.input_tokens,
            output_tokens=inbound.most_output(model.default_output_tokens),
            fallback=inbound.fallback_features,
            prefix=prefix,
            pinned=self._moved.get(prefix) if prefix is not None else None,
        )
        hosted = model.hosted_as or inbound.model
        providers = [
            self._provider_view(p, hosted) for p in self._providers.values() if hosted in p.models
        ]
        if gated:
            providers = [replace(p, ejected=True) if p.key in gated else p for p in providers]
        ring = self._ring(inbound.model) if prefix is not None else None
        chosen = plan(
            pods,
            providers,
            demand,
            limits,
            self._rng,
            self._local_capabilities,
            ring,
            spent_wait_s=self._spent_wait_s,
        )
        return replace(chosen, prefix=prefix) if prefix is not None else chosen

    def _ring(self, model: str) -> Ring:
        """The ring of every pod of ``model``. Routing walks it among the pods a request may
        use (``affinity.choose``): the order of those is the same on a ring of more, so apps
        limited to some namespaces share the one ring instead of rebuilding it in turn."""
        keys = frozenset(p.url for p in self.pools.pods(model))
        ring = self._rings.get(model)
        if ring is None or ring.pods != keys:
            ring = self._rings[model] = Ring(keys)
        return ring

    def served(self, chosen: Plan, target: Target) -> None:
        """``target`` answered a request planned as ``chosen``: a local pod becomes where its
        conversation stays while that pod is free and within the bound, even when a pod it
        left comes back (``Demand.pinned``)."""
        prefix = chosen.prefix
        if prefix is None or target.kind != "local":
            return
        self._moved[prefix] = target.key
        self._moved.move_to_end(prefix)
        while len(self._moved) > _MAX_MOVED:
            self._moved.popitem(last=False)

    def pod_view(self, pod: Pod, *, scraped: bool) -> PodView:
        """How routing sees ``pod`` now."""
        stats = pod.stats
        fresh = not pod.warming and (
            not scraped or self.pools.is_fresh(pod, self.settings.tuning.stale_after_s)
        )
        return PodView(
            key=pod.url,
            waiting=stats.waiting if stats and scraped else 0,
            running=stats.running if stats and scraped else 0,
            # the pod's whole load: its requests for every model it serves, here and elsewhere
            inflight=self.pools.inflight_at(pod.url) + pod.peer_inflight,
            fresh=fresh,
            ejected=self.health.is_ejected(pod.url),
            warming=pod.warming,
        )

    def _provider_view(self, provider: ProviderConfig, model: str) -> ProviderView:
        prior = SpeedEstimate(provider.expected_ttft_s, provider.expected_tokens_per_s)
        limits = limit_key(provider.name, provider.models[model].id)
        spent = self.limits.is_spent(limits)
        return ProviderView(
            key=provider.name,
            price=provider.models[model].price,
            speed=self.speed.estimate(provider.name, prior),
            capabilities=self._dialects[provider.name].capabilities,
            ejected=self.health.is_ejected(provider.name),
            spent=spent,
            back_in_s=self.limits.back_in(limits) if spent else 0.0,  # only then read
        )

    def target(self, candidate: Candidate, model: str) -> Target | None:
        """Resolve ``candidate`` for ``model``; None if it vanished since planning."""
        if candidate.kind == "local":
            pod = self.pools.get(model, candidate.key)
            if pod is None:
                return None
            config = self.models.get(model)
            price = config.local.price if config is not None else _FREE
            return Target(
                "local", pod.url, "local", f"{pod.url}/v1", pod.served_model, _VLLM, {}, price
            )
        provider = self._providers[candidate.key]
        headers = {}
        if provider.key is not None:
            headers["authorization"] = f"Bearer {provider.key.get_secret_value()}"
        config = self.models.get(model)
        hosted_as = config.hosted_as if config is not None else None
        entry = provider.models[hosted_as or model]
        return Target(
            "hosted",
            provider.name,
            provider.name,
            provider.base_url.rstrip("/"),
            entry.id,
            self._dialects[provider.name],
            headers,
            entry.price,
            hosted_as,
        )

    def provider_names(self) -> list[str]:
        """Every configured provider's name."""
        return list(self._providers)

    def provider(self, name: str) -> ProviderConfig:
        """The configured provider ``name``."""
        return self._providers[name]
