"""The join scenario of the prefix benchmark: a pod that joins is held back only by its warm-up,
takes traffic after it, and its first requests find their apps' beginnings cached."""

from __future__ import annotations

import random

from bench.prefix.replay import Join, capacity_rps, run
from bench.prefix.trace import make_trace
from bench.prefix_warming import main

from gptoss_sim.capacity import CapacityParams

PARAMS = CapacityParams(kv_cache_tokens=400_000, startup_s=0.0)


def _joined(warm: bool) -> tuple[float, list[float], int, int]:
    trace = make_trace(
        random.Random(3),  # noqa: S311 - a benchmark's randomness
        apps=4,
        minutes=0.75,
        rate=0.6 * capacity_rps(PARAMS, 2500, 175, 3) / 12.5,
        sharing=True,
    )
    result = run(trace, PARAMS, 3, "gptoss", 3, Join(at=15.0, warm=warm, window_s=30.0))
    return result.routable_after_s, result.joined_ttfts, result.hits, result.served[-1]


def test_a_warmed_pod_waits_for_its_warmups_and_a_cold_one_takes_traffic_at_once() -> None:
    cold_wait, cold, cold_hits, cold_served = _joined(warm=False)
    warm_wait, warm, warm_hits, warm_served = _joined(warm=True)
    assert cold_wait == 0.0
    # Four apps' 2,000-8,000-token beginnings at 50 us a token: a fraction of a second each.
    assert 0.0 < warm_wait < 4 * 8000 * PARAMS.prefill_token_s * 1.5
    assert cold_served > 0 and warm_served > 0 and cold and warm
    assert warm_hits > cold_hits  # the warm-ups' blocks were hit by real requests
    assert max(warm) < max(cold)


def test_the_benchmark_prints_both_runs_for_each_load(capsys: object) -> None:
    assert main(["--pods", "3", "--loads", "0.5", "--minutes", "0.5", "--join-at", "10"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "held back s" in out and "lower with warming" in out
