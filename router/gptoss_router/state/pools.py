"""Local pods per model and their queue state; kept in step by discovery and the scraper.

Discovery (static list or the cluster) calls ``replace``; the scraper calls ``record_stats``;
the warmer calls ``warmed``; the request path counts its own in-flight requests per pod.
Nothing here does I/O. Every change calls ``on_change`` (held requests plan again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

__all__ = ["LocalPools", "Pod", "PodStats"]


@dataclass(frozen=True, slots=True)
class PodStats:
    """vLLM's own view of its queue (``vllm:num_requests_waiting`` / ``_running``)."""

    waiting: int
    running: int


@dataclass(slots=True)
class Pod:
    """One vLLM pod serving ``model`` at ``url``, which names it ``served_model``."""

    url: str
    model: str
    served_model: str
    stats: PodStats | None = None
    scraped_at: float = float("-inf")
    inflight: int = 0  # requests this replica has on the pod
    peer_inflight: int = 0  # requests the other router replicas have on it (store sync)
    namespace: str = ""  # the pod's namespace ("" for a pod listed statically)
    warming: bool = False  # new, and held out of routing while hot prefixes are cached on it


class LocalPools:
    """Every known pod, by model."""

    def __init__(
        self,
        clock: Callable[[], float],
        on_change: Callable[[], None] = lambda: None,
        on_leave: Callable[[str], None] = lambda url: None,
        on_join: Callable[[str], None] = lambda url: None,
        warm: Callable[[str], bool] = lambda model: False,
    ) -> None:
        self._clock = clock
        self._on_change = on_change
        self._on_leave = on_leave
        self._on_join = on_join
        self._warm = warm
        self._by_model: dict[str, dict[str, Pod]] = {}

    def replace(
        self,
        model: str,
        urls: list[str],
        *,
        served_model: str,
        namespaces: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Make ``urls`` the pods of ``model`` (``namespaces``: each one's namespace); keep
        known pods' state; return removed URLs. A new pod starts ``warming`` when ``warm``
        says its model has prefixes worth caching on it first."""
        old = self._by_model.get(model, {})
        held = self.urls()
        new: dict[str, Pod] = {}
        where = namespaces or {}
        warm: bool | None = None
        for url in urls:
            known = old.get(url)
            if known is None or known.served_model != served_model:
                warm = self._warm(model) if warm is None else warm
                known = Pod(url, model, served_model, namespace=where.get(url, ""), warming=warm)
            new[url] = known
        self._by_model[model] = new
        removed = [url for url in old if url not in new]
        # A pod that serves other models too (a base model and its adapters) has not left:
        # what was learnt of it (its health, its speed) is kept while any pool holds it.
        for url in removed:
            if not any(url in pods for pods in self._by_model.values()):
                self._on_leave(url)
        for url in new:
            if url not in held:  # an address no pool held: a pod new to every pool
                self._on_join(url)
        self._on_change()
        return removed

    def urls(self) -> set[str]:
        """The addresses of every known pod, whatever models it serves."""
        return {url for pods in self._by_model.values() for url in pods}

    def pods(self, model: str) -> list[Pod]:
        """Pods of ``model`` (empty when scaled to zero or unknown)."""
        return list(self._by_model.get(model, {}).values())

    def inflight_at(self, url: str) -> int:
        """This replica's requests in flight on the pod at ``url``, over every model it serves
        (a pod serving a base model and adapters is in each of their pools)."""
        return sum(pod.inflight for pods in self._by_model.values() if (pod := pods.get(url)))

    def get(self, model: str, url: str) -> Pod | None:
        """The pod at ``url`` serving ``model``, if it is still known."""
        return self._by_model.get(model, {}).get(url)

    def __iter__(self) -> Iterator[Pod]:
        for pods in list(self._by_model.values()):
            yield from list(pods.values())

    def warmed(self, pod: Pod) -> None:
        """``pod`` is done warming (or gave up): it may take traffic."""
        if pod.warming:
            pod.warming = False
            self._on_change()

    def record_stats(self, pod: Pod, stats: PodStats) -> None:
        """A scrape of ``pod`` succeeded."""
        pod.stats = stats
        pod.scraped_at = self._clock()
        self._on_change()

    def is_fresh(self, pod: Pod, stale_after_s: float) -> bool:
        """Whether ``pod`` was scraped within ``stale_after_s``."""
        return self._clock() - pod.scraped_at <= stale_after_s
