"""Leader election through a Lease (pure rules, and the elector against an in-memory API with
the server's resourceVersion checks): one holder at a time, a standby that only reads, and a
take-over timed on the standby's own clock."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from gptoss_operator.errors import KubeConflict
from gptoss_operator.leading.elector import Elector
from gptoss_operator.leading.lease import (
    Observer,
    Record,
    Timing,
    claim,
    lease_object,
    record_of,
    released,
)
from gptoss_operator.settings import OperatorSettings

T0 = "2026-11-25T12:00:00.000000Z"
T1 = "2026-11-25T12:00:01.000000Z"


def test_the_operators_default_timing_takes_over_within_fifteen_seconds() -> None:
    settings = OperatorSettings()
    timing = Timing(
        settings.leader_election_lease_seconds,
        settings.leader_election_renew_deadline_seconds,
        settings.leader_election_retry_seconds,
    )
    assert timing.worst_takeover_s <= 12.5  # leaves Kopf 2.5 s to start within 15 s
    assert Timing(15, 10, 2).worst_takeover_s == pytest.approx(19.8)  # client-go's defaults


@pytest.mark.parametrize(("lease", "renew", "retry"), [(8, 8, 1), (8, 6, 5), (8, 1, 1)])
def test_a_timing_client_go_would_refuse_is_refused(lease: int, renew: float, retry: float) -> None:
    with pytest.raises(ValueError, match="lease > renew deadline"):
        Timing(lease, renew, retry)


def test_the_first_claim_starts_the_count_of_transitions() -> None:
    assert claim(None, "a", 8, T0) == Record("a", 8, T0, T0, 0)


def test_a_renewal_keeps_when_the_lease_was_acquired() -> None:
    held = Record("a", 8, T0, T0, 3)
    assert claim(held, "a", 8, T1) == Record("a", 8, T0, T1, 3)


def test_a_take_over_counts_one_more_transition() -> None:
    held = Record("a", 8, T0, T0, 3)
    assert claim(held, "b", 8, T1) == Record("b", 8, T1, T1, 4)


def test_a_lease_record_survives_its_round_trip_through_the_object() -> None:
    record = Record("a", 8, T0, T1, 2)
    assert record_of(lease_object("gptoss", "gptoss-operator", record, "42")) == record
    gone = released(record, T1)
    assert "holderIdentity" not in lease_object("gptoss", "x", gone)["spec"]


def test_another_holders_lease_runs_on_the_standbys_clock_not_the_written_time() -> None:
    observer = Observer()
    skewed = Record("a", 8, "2000-01-01T00:00:00.000000Z", "2000-01-01T00:00:00.000000Z", 0)
    observer.observe(skewed, now=100.0)
    assert observer.held_by_another("b", now=107.9)
    observer.observe(skewed, now=107.9)  # unchanged: the lease keeps running out
    assert not observer.held_by_another("b", now=108.0)


def test_a_renewal_seen_restarts_the_standbys_wait() -> None:
    observer = Observer()
    observer.observe(Record("a", 8, T0, T0, 0), now=100.0)
    observer.observe(Record("a", 8, T0, T1, 0), now=105.0)
    assert observer.held_by_another("b", now=112.0)
    assert not observer.held_by_another("b", now=113.0)


def test_a_released_lease_is_free_at_once() -> None:
    observer = Observer()
    observer.observe(released(Record("a", 8, T0, T0, 0), T1), now=100.0)
    assert not observer.held_by_another("b", now=100.0)


@dataclass
class Leases:
    """The API server's part: one Lease, replaced only at its current resourceVersion."""

    stored: dict[str, Any] | None = None
    version: int = 0
    writes: list[tuple[str, str]] = field(default_factory=list)  # (verb, holder)
    late: list[dict[str, Any] | None] = field(default_factory=list)  # answers read before a write

    def get(
        self, api_version: str, kind: str, namespace: str, name: str, timeout: float = 0
    ) -> dict[str, Any] | None:
        return self.late.pop(0) if self.late else copy.deepcopy(self.stored)

    def _store(self, verb: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.stored = copy.deepcopy(obj)
        self.stored["metadata"]["resourceVersion"] = str(self.version)
        self.writes.append((verb, record_of(obj).holder))
        return copy.deepcopy(self.stored)

    def create(self, obj: dict[str, Any], timeout: float = 0) -> dict[str, Any]:
        if self.stored is not None:
            raise KubeConflict("already exists", status=409)
        return self._store("create", obj)

    def replace(self, obj: dict[str, Any], timeout: float = 0) -> dict[str, Any]:
        assert self.stored is not None
        if obj["metadata"].get("resourceVersion") != self.stored["metadata"]["resourceVersion"]:
            raise KubeConflict("the object has been modified", status=409)
        return self._store("replace", obj)


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def _elector(api: Leases, identity: str, clock: Clock) -> Elector:
    return Elector(api, "gptoss", "gptoss-operator", identity, Timing(8, 6, 1), clock=clock)  # type: ignore[arg-type]


def test_one_of_two_replicas_leads_and_the_other_only_reads() -> None:
    api, clock = Leases(), Clock()
    a, b = _elector(api, "a", clock), _elector(api, "b", clock)
    assert a.try_acquire_or_renew()
    for second in range(1, 60):
        clock.now = float(second)
        assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()
    assert {holder for _, holder in api.writes} == {"a"}
    assert b.holder == "a"


def test_a_standby_takes_over_a_lease_duration_after_the_last_renewal_it_saw() -> None:
    api, clock = Leases(), Clock()
    a, b = _elector(api, "a", clock), _elector(api, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # b sees a's record at 0
    clock.now = 5.0
    assert a.try_acquire_or_renew()  # a's last renewal
    assert not b.try_acquire_or_renew()  # b sees it at 5; then a dies
    clock.now = 12.9
    assert not b.try_acquire_or_renew()
    clock.now = 13.0
    assert b.try_acquire_or_renew()
    assert record_of(api.stored or {}).holder == "b"
    assert record_of(api.stored or {}).transitions == 1


def test_two_standbys_racing_for_an_expired_lease_yield_one_leader() -> None:
    api, clock = Leases(), Clock()
    assert _elector(api, "a", clock).try_acquire_or_renew()
    b, c = _elector(api, "b", clock), _elector(api, "c", clock)
    assert not b.try_acquire_or_renew() and not c.try_acquire_or_renew()
    clock.now = 8.0
    api.late.append(api.get("", "", "", ""))  # c reads a's expired record, then b writes first
    assert b.try_acquire_or_renew()
    assert not c.try_acquire_or_renew()  # its replace at the version it read conflicts
    assert record_of(api.stored or {}).holder == "b"
    assert not c.try_acquire_or_renew()  # and now it sees b's fresh lease
    assert c.holder == "b"


def test_a_leader_that_releases_hands_over_at_the_next_try() -> None:
    api, clock = Leases(), Clock()
    a, b = _elector(api, "a", clock), _elector(api, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    a.release()
    clock.now = 1.0
    assert b.try_acquire_or_renew()
