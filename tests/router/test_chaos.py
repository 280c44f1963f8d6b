"""Chaos under a steady load (``bench/router_chaos.py``, short): each backend in turn fails every
request in band, is killed, hung, made to answer 500 and 429 while clients keep streaming; the
router's promises hold."""

from __future__ import annotations

import pytest
from bench.chaos.plan import ChaosPlan
from bench.chaos.run import run_chaos

pytestmark = pytest.mark.timeout(150)


async def test_faults_on_any_one_backend_never_reach_clients_before_the_first_byte() -> None:
    report = await run_chaos(ChaosPlan(clients=12, fault_s=2.0, settle_s=0.3))
    faulted = report.faulted
    assert len(faulted) == 15 and all(p.requests > 20 for p in report.phases)
    # No client saw an error before its first byte: another backend always took the request.
    assert [(p.backend, p.fault, p.failed) for p in faulted if p.failed] == []
    # Streams cut by a killed backend each ended with an in-band error event; none hung or
    # ended silently.
    killed = [p for p in faulted if p.fault == "kill"]
    assert sum(p.in_band for p in killed) > 0
    assert report.total("truncated") == 0 and report.total("hung") == 0
    # Failover cost little extra upstream load, also from a backend whose health checks pass
    # while every request fails in band: it is not readmitted by the checks over and over.
    assert report.retry_ratio <= 0.2
    in_band = [p for p in faulted if p.fault == "in-band"]
    assert [(p.backend, p.retries) for p in in_band if p.retries > 0.2 * p.requests] == []
    # Every failing backend left rotation, and came back once healthy.
    left = [p for p in faulted if p.eject_s is not None]
    assert len(left) >= 12
    assert all(p.readmit_s is not None for p in left)
