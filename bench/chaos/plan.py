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
    # the engine fails every request in band, before its stream's first event (a 200, then an
    # error event): the router must still find another backend
    "in-band": ["error_after=0,path=/v1/chat/", "error_after=0,path=/inference/v1/chat/"],
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
    # in-band first: a backend that fails in band serves its ejections out, which grow with
    # every ejection the earlier phases counted
    faults: tuple[str, ...] = ("in-band", "kill", "hang", "5xx", "429")
