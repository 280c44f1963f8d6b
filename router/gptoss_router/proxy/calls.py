"""What the request path carries from one stage to the next: a read request, then a planned call."""

from __future__ import annotations

from dataclasses import dataclass

from gptoss_router.config.models import ModelConfig
from gptoss_router.openai.inbound import Inbound
from gptoss_router.proxy.responses import Turn
from gptoss_router.routing.access import App
from gptoss_router.routing.admission import Ticket
from gptoss_router.routing.policy import Limits, Plan

__all__ = ["Call", "Request"]


@dataclass(frozen=True, slots=True)
class Request:
    """A request read, authenticated and checked, before admission."""

    app: App
    headers: dict[str, str]
    body: bytes
    inbound: Inbound
    model: ModelConfig
    limits: Limits
    reserve: int  # tokens it may use: its input and at most its output
    turn: Turn | None = None  # a Responses request, made stateless


@dataclass(frozen=True, slots=True)
class Call:
    """An admitted request and its plan."""

    inbound: Inbound
    body: bytes
    strip_reasoning: bool
    plan: Plan
    ticket: Ticket
    turn: Turn | None
