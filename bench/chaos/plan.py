"""What a chaos run does: the model and backends it runs, the faults it injects and for how long."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAULTS", "HOST", "MODEL", "PROVIDER_KEY", "ChaosPlan"]

MODEL = "gpt-oss-120b"
HOST = "127.0.0.1"
PROVIDER_KEY = "fw-chaos-secret-5150"
FAULTS: dict[str, list[str]] = {
    "hang": ["hang"],
    "5xx": ["status=500"],
    "429": ["status=429,retry_after=1"],
}


@dataclass(frozen=True)
class ChaosPlan:
    clients: int = 12
    fault_s: float = 3.0
    settle_s: float = 0.5
    readmit_within_s: float = 10.0
    hang_s: float = 15.0
    max_tokens: int = 16
    backends: tuple[str, ...] = ("pod-a", "pod-b", "fireworks")
    faults: tuple[str, ...] = ("kill", "hang", "5xx", "429")
