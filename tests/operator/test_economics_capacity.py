"""A replica's capacity as the cost policy estimates it: the prior, replaced by the first
saturated measurements, then moved a step at a time."""

from __future__ import annotations

import pytest

from gptoss_operator.autoscaling.capacity import (
    FIRST_SAMPLES,
    WEIGHT,
    CapacityEstimate,
    updated_capacity,
)

PRIOR = 6039.0  # gpt-oss-120b on 2 x H100, the published figure
SERVED = 1800.0  # what one replica of this workload (long prompts) really serves


def test_the_first_saturated_tick_replaces_a_prior_that_errs_threefold() -> None:
    estimate = CapacityEstimate()
    assert estimate.observe(PRIOR, 2 * SERVED, ready=2, saturated=True, blind=False) == SERVED
    assert estimate.samples == 1


def test_the_first_saturated_ticks_average_and_later_ones_move_the_estimate_a_step() -> None:
    estimate = CapacityEstimate()
    readings = [1700.0, 1900.0, 1750.0, 1850.0, 1800.0][:FIRST_SAMPLES]
    for served in readings:
        value = estimate.observe(PRIOR, served, ready=1, saturated=True, blind=False)
    assert value == pytest.approx(sum(readings) / len(readings))
    odd = estimate.observe(PRIOR, 900.0, ready=1, saturated=True, blind=False)
    assert odd == pytest.approx(value + WEIGHT * (900.0 - value))  # one odd tick: a step


def test_an_unsaturated_tick_only_raises_the_estimate_and_is_not_a_measurement() -> None:
    estimate = CapacityEstimate()
    assert estimate.observe(PRIOR, 1000.0, ready=1, saturated=False, blind=False) == PRIOR
    assert estimate.observe(PRIOR, 7000.0, ready=1, saturated=False, blind=False) == 7000.0
    assert estimate.samples == 0
    # the first saturated tick after them still replaces what stood in
    assert estimate.observe(PRIOR, SERVED, ready=1, saturated=True, blind=False) == SERVED


def test_a_blind_tick_teaches_nothing_even_when_saturated() -> None:
    estimate = CapacityEstimate()
    assert estimate.observe(PRIOR, 0.0, ready=3, saturated=True, blind=True) == PRIOR
    assert (estimate.value, estimate.samples) == (None, 0)


def test_updated_capacity_moves_by_its_weight_towards_a_saturated_observation() -> None:
    assert updated_capacity(1000.0, 600.0, saturated=True, weight=0.5) == 800.0
    assert updated_capacity(1000.0, 0.0, saturated=True) == 1000.0  # nothing served: no reading
