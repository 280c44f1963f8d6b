"""The router's tuning: timeouts, failover, health, holding, stored responses, tool-call gating.

Defaults follow Envoy where it has one (docs/sources.md, Failover).
"""

from __future__ import annotations

from pydantic import Field

from gptoss_router.config.base import Strict

__all__ = ["Tuning"]


class Tuning(Strict):
    """Timeouts, failover and health knobs.

    Defaults follow Envoy where it has one (docs/sources.md, Failover).
    """

    connect_timeout_s: float = Field(default=2.0, gt=0)
    first_byte_timeout_s: float = Field(default=60.0, gt=0)
    response_timeout_s: float = Field(default=600.0, gt=0)
    idle_timeout_s: float = Field(default=60.0, gt=0)
    # Whole (non-streamed) answers are asked of backends as streams and assembled, so the two
    # timeouts above apply to them too and a backend that hangs or breaks mid-answer is left for
    # the next one (proxy/gather.py); false: only response_timeout_s bounds them.
    gather_streams: bool = True
    max_attempts: int = Field(default=4, ge=1, le=5)  # gRPC A6 caps attempts at 5
    # Retries add at most this share of the requests of the last 10 s (budget.py; Envoy and
    # Finagle both default to 20 %), plus ``retry_budget_min`` retries per second at any traffic.
    retry_budget_ratio: float = Field(default=0.2, ge=0, le=1)
    retry_budget_min: float = Field(default=3.0, ge=0)
    # Hedging (proxy/hedging.py): an attempt still without its first event at its backend's
    # hedge_quantile of recent times to first event (state/ttft_tail.py; known once
    # hedge_min_samples were seen, never sooner than hedge_min_s) is sent again to the next
    # candidate, and the first to answer is relayed. Hedges are drawn from the retry budget.
    # 0: never hedge.
    hedge_quantile: float = Field(default=0.95, ge=0, lt=1)
    hedge_min_s: float = Field(default=0.25, ge=0)
    hedge_min_samples: int = Field(default=20, ge=1)
    consecutive_failures: int = Field(default=5, ge=1)  # Envoy consecutive_5xx 5
    base_ejection_s: float = Field(default=30.0, gt=0)  # Envoy base_ejection_time 30 s
    max_ejection_s: float = Field(default=300.0, gt=0)  # Envoy max_ejection_time 300 s
    probe_interval_s: float = Field(default=5.0, gt=0)
    scrape_interval_s: float = Field(default=0.5, gt=0)
    stale_after_s: float = Field(default=3.0, gt=0)
    ewma_alpha: float = Field(default=0.3, gt=0, le=1)
    max_body_bytes: int = Field(default=8 << 20, ge=1024)
    # Slow or oversized requests (wire.py, asgi.read_body): 408 past a time, 413/431 past a size.
    body_timeout_s: float = Field(default=30.0, gt=0)
    header_timeout_s: float = Field(default=10.0, gt=0)
    max_header_bytes: int = Field(default=60 * 1024, ge=1024)  # Envoy max_request_headers_kb 60
    # With no local pod able to take a request and no provider allowed to, the request waits
    # this long for one (a pod starting, coming back); at most ``max_held`` per model wait.
    hold_timeout_s: float = Field(default=120.0, ge=0)
    max_held: int = Field(default=256, ge=0)
    hold_retry_after_s: float = Field(default=10.0, gt=0)
    # With every provider the request may use spent (429, rate-limit headers at zero) and none
    # ejected, the request waits for the first reset if it comes within this long (counted
    # among ``max_held``); past it, 429 with that reset as Retry-After. 0: never wait.
    spent_wait_s: float = Field(default=2.0, ge=0)
    # A new local pod is sent the warm_prefixes hottest prompt beginnings of its model (system
    # and developer messages or Responses instructions, with their tools) before it takes
    # traffic, for at most
    # warm_timeout_s; 0 sends none (state/hot_prefixes.py, watch/warming.py).
    warm_prefixes: int = Field(default=8, ge=0, le=32)
    warm_timeout_s: float = Field(default=10.0, gt=0)
    # Stored Responses (store: true) are kept this long after they were written, as OpenAI
    # keeps them 30 days; a conversation's state (earlier turns and the new input) may not grow
    # past responses_max_bytes of JSON (docs/responses-state.md).
    responses_ttl_s: float = Field(default=30 * 86400.0, gt=0)
    responses_max_bytes: int = Field(default=4 << 20, ge=1024)
    # A streamed background response streamed again from another replica (http/replay.py):
    # its events are read from the store each time the store says its log grew (pub/sub), and
    # at least every replay_poll_s (the stand-in where pub/sub fails or a proxy lacks it); the
    # stream ends with an error once none came for replay_idle_s while the response stayed
    # unfinished (its replica gone).
    replay_poll_s: float = Field(default=1.0, gt=0, le=60)
    replay_idle_s: float = Field(default=300.0, gt=0)
    # Tool-call quality (state/tool_quality.py): a backend whose tool calls for a model were
    # valid (known function, JSON arguments its schema accepts) less than tool_call_min_validity
    # of the time, over at least tool_call_min_samples calls in the last tool_call_window_s,
    # gets no request with tools for tool_call_gate_s (times how often it was gated, at most
    # tool_call_max_gate_s). 0 turns the gate off; the calls are still checked and counted.
    tool_call_min_validity: float = Field(default=0.9, ge=0, le=1)
    tool_call_min_samples: int = Field(default=20, ge=1)
    tool_call_window_s: float = Field(default=300.0, gt=0)
    tool_call_gate_s: float = Field(default=60.0, gt=0)
    tool_call_max_gate_s: float = Field(default=600.0, gt=0)
