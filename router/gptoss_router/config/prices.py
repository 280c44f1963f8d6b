"""Prices and price caps in the router's configuration, in US dollars per million tokens."""

from __future__ import annotations

from pydantic import Field

from gptoss_router.config.base import Strict

__all__ = ["Price", "PriceCap"]


class Price(Strict):
    """US dollars per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class PriceCap(Strict):
    """Most a request may pay per million tokens; ``None`` means no cap on that side."""

    input: float | None = Field(default=None, ge=0)
    output: float | None = Field(default=None, ge=0)

    def admits(self, price: Price) -> bool:
        """Whether a backend at ``price`` stays within this cap."""
        within_in = self.input is None or price.input <= self.input
        return within_in and (self.output is None or price.output <= self.output)

    def tighten(self, other: PriceCap) -> PriceCap:
        """The stricter of two caps, side by side."""
        if other.input is None and other.output is None:
            return self
        if self.input is None and self.output is None:
            return other

        def low(a: float | None, b: float | None) -> float | None:
            return b if a is None else a if b is None else min(a, b)

        return PriceCap(input=low(self.input, other.input), output=low(self.output, other.output))
