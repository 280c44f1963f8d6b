"""Measured speed per backend: EWMA of time to first token and of output tokens per second.

Gateways that route on latency keep a moving estimate per deployment (LiteLLM's sample list,
Envoy/Finagle/tower Peak EWMA; docs/sources.md, Failover). Here a plain EWMA with weight
``alpha`` per sample, seeded by the configured prior until the first measurement.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SpeedBook", "SpeedEstimate"]


@dataclass(frozen=True, slots=True)
class SpeedEstimate:
    """Expected time to first token (s) and generation speed (tokens/s)."""

    ttft_s: float
    tokens_per_s: float

    def seconds_for(self, output_tokens: int) -> float:
        """Expected end-to-end seconds for a request producing ``output_tokens``."""
        return self.ttft_s + output_tokens / self.tokens_per_s


class SpeedBook:
    """EWMA speed estimates keyed by backend."""

    def __init__(self, *, alpha: float) -> None:
        self._alpha = alpha
        self._ttft: dict[str, float] = {}
        self._tps: dict[str, float] = {}

    def estimate(self, key: str, prior: SpeedEstimate) -> SpeedEstimate:
        """The current estimate for ``key``, or ``prior`` where nothing was measured yet."""
        return SpeedEstimate(
            ttft_s=self._ttft.get(key, prior.ttft_s),
            tokens_per_s=self._tps.get(key, prior.tokens_per_s),
        )

    def observe_ttft(self, key: str, seconds: float) -> None:
        """A streamed request to ``key`` saw its first token after ``seconds``."""
        self._ttft[key] = self._blend(self._ttft.get(key), seconds)

    def observe_generation(self, key: str, tokens: int, seconds: float) -> None:
        """``key`` produced ``tokens`` in ``seconds`` after its first token."""
        if tokens > 1 and seconds > 0:
            self._tps[key] = self._blend(self._tps.get(key), tokens / seconds)

    def forget(self, key: str) -> None:
        """``key`` is gone (a pod that left): its figures go with it."""
        self._ttft.pop(key, None)
        self._tps.pop(key, None)

    def backends(self) -> set[str]:
        """The backends it holds figures of."""
        return set(self._ttft) | set(self._tps)

    def _blend(self, old: float | None, sample: float) -> float:
        return sample if old is None else old + self._alpha * (sample - old)
