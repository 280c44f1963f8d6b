"""What a chaos run measured, per phase (a quiet baseline, then one fault on one backend), and
the table it prints."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Phase", "Report"]


@dataclass
class Phase:
    backend: str
    fault: str
    requests: int = 0
    ok: int = 0
    failed: int = 0
    in_band: int = 0
    truncated: int = 0
    hung: int = 0
    retries: float = 0.0
    denied: float = 0.0
    eject_s: float | None = None
    readmit_s: float | None = None
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def retry_ratio(self) -> float:
        return self.retries / self.requests if self.requests else 0.0


@dataclass
class Report:
    phases: list[Phase]

    @property
    def faulted(self) -> list[Phase]:
        return [p for p in self.phases if p.fault != "none"]

    def total(self, name: str) -> float:
        return float(sum(getattr(p, name) for p in self.phases))

    @property
    def retry_ratio(self) -> float:
        requests = self.total("requests")
        return self.total("retries") / requests if requests else 0.0

    def table(self) -> str:
        def secs(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f}"

        head = (
            f"{'backend':<10} {'fault':<5} {'requests':>8} {'failed':>6} {'in-band':>7} "
            f"{'trunc':>5} {'hung':>4} {'retries':>7} {'eject s':>7} {'readmit s':>9}"
        )
        rows = [head]
        for p in self.phases:
            rows.append(
                f"{p.backend:<10} {p.fault:<5} {p.requests:>8} {p.failed:>6} {p.in_band:>7} "
                f"{p.truncated:>5} {p.hung:>4} {p.retry_ratio:>7.1%} {secs(p.eject_s):>7} "
                f"{secs(p.readmit_s):>9}"
            )
        rows.append(
            f"{'all':<10} {'':<5} {int(self.total('requests')):>8} {int(self.total('failed')):>6} "
            f"{int(self.total('in_band')):>7} {int(self.total('truncated')):>5} "
            f"{int(self.total('hung')):>4} {self.retry_ratio:>7.1%}"
        )
        return "\n".join(rows)
