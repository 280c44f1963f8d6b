"""The leader-election record in a coordination.k8s.io/v1 Lease and the rules for taking it
(pure: time comes in as arguments), as client-go's ``leaderelection`` does it.

* A candidate takes the Lease when it does not exist, when it holds it already (a renewal),
  when its holder released it (empty ``holderIdentity``), or when the record has not changed
  for ``leaseDurationSeconds`` *as this candidate measured it*: it times the record from when
  it saw the record change on its own monotonic clock, never from the ``renewTime`` written by
  another machine's clock, so clock skew between replicas does not matter (a difference in
  clock *rates* does; the lease's margin over the renew deadline covers that).
* Every write is a replace at the ``resourceVersion`` read, so of two candidates racing for an
  expired Lease one wins and the other gets a conflict.
* The leader renews every retry period; one that could not renew for the renew deadline
  stops leading (before its lease can have expired for anyone else, since the deadline is
  shorter than the lease).
* This is not fencing: a leader that stalls (a long pause) may still send a write after a
  standby took over. Stopping at the renew deadline bounds that window; the operator's writes
  are idempotent applies, so a late one repeats what the new leader writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LEASE_API_VERSION",
    "Observer",
    "Record",
    "Timing",
    "claim",
    "lease_object",
    "micro_time",
    "record_of",
    "released",
]

LEASE_API_VERSION = "coordination.k8s.io/v1"
JITTER = 1.2  # client-go's JitterFactor: retries wait up to 20 % longer, so they spread


@dataclass(frozen=True)
class Timing:
    """client-go's three durations; its defaults are 15 s, 10 s and 2 s."""

    lease_s: int  # how long a standby waits after the last change of the record it saw
    renew_deadline_s: float  # how long the leader keeps failing to renew before it stops
    retry_s: float  # how often the leader renews and a standby tries

    def __post_init__(self) -> None:
        if not self.lease_s > self.renew_deadline_s > JITTER * self.retry_s > 0:
            raise ValueError(
                "a lease needs lease > renew deadline > 1.2 x retry period > 0, got "
                f"{self.lease_s} s, {self.renew_deadline_s} s, {self.retry_s} s"
            )

    @property
    def worst_takeover_s(self) -> float:
        """From the leader's death to a standby holding the lease, at the latest: the record
        may change just after the standby's read (one retry, jittered), then a whole lease,
        then one more jittered retry."""
        return self.lease_s + 2 * JITTER * self.retry_s


@dataclass(frozen=True)
class Record:
    holder: str  # "" once released
    lease_s: int
    acquired: str | None  # MicroTime, as written
    renewed: str | None
    transitions: int


def micro_time(now: dt.datetime) -> str:
    """A ``metav1.MicroTime`` as the API server writes it."""
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_of(lease: dict[str, Any]) -> Record:
    spec = lease.get("spec") or {}
    return Record(
        holder=str(spec.get("holderIdentity") or ""),
        lease_s=int(spec.get("leaseDurationSeconds") or 0),
        acquired=spec.get("acquireTime"),
        renewed=spec.get("renewTime"),
        transitions=int(spec.get("leaseTransitions") or 0),
    )


def lease_object(
    namespace: str, name: str, record: Record, resource_version: str | None = None
) -> dict[str, Any]:
    """The whole Lease holding ``record`` (a replace at ``resource_version`` if given)."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/managed-by": "gptoss-operator"},
    }
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    spec: dict[str, Any] = {
        "leaseDurationSeconds": record.lease_s,
        "leaseTransitions": record.transitions,
    }
    if record.holder:
        spec["holderIdentity"] = record.holder
    if record.acquired:
        spec["acquireTime"] = record.acquired
    if record.renewed:
        spec["renewTime"] = record.renewed
    return {"apiVersion": LEASE_API_VERSION, "kind": "Lease", "metadata": metadata, "spec": spec}


def claim(live: Record | None, identity: str, lease_s: int, now: str) -> Record:
    """The record that holds the lease for ``identity`` from ``live``: a renewal keeps when it
    was acquired and the count of transitions, a take-over adds one."""
    if live is not None and live.holder == identity:
        return Record(identity, lease_s, live.acquired or now, now, live.transitions)
    transitions = 0 if live is None else live.transitions + 1
    return Record(identity, lease_s, now, now, transitions)


def released(live: Record, now: str) -> Record:
    """The record of a leader that stops on purpose: no holder, so a standby takes it at once
    (client-go's ReleaseOnCancel writes the same)."""
    return Record("", 1, now, now, live.transitions)


@dataclass
class Observer:
    """When this candidate last saw the record change, on its own monotonic clock."""

    record: Record | None = None
    seen_at: float = 0.0

    def observe(self, record: Record, now: float) -> None:
        if record != self.record:
            self.record, self.seen_at = record, now

    def held_by_another(self, identity: str, now: float) -> bool:
        """Whether someone else holds a lease that has not run out for this candidate."""
        record = self.record
        if record is None or not record.holder or record.holder == identity:
            return False
        return now < self.seen_at + record.lease_s
