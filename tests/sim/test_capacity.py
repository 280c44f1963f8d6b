"""The capacity model, run in virtual time: queueing, batching, prefill, the KV budget."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gptoss_sim.capacity import CapacityParams, blocks_for
from gptoss_sim.engine_state import EngineState, Seq, add_request, used_blocks
from gptoss_sim.scheduler import step
from gptoss_sim.virtual_time import simulate

PARAMS = CapacityParams(
    max_num_seqs=4,
    max_num_batched_tokens=512,
    kv_cache_tokens=64_000,
    max_model_len=8_192,
    step_base_s=0.005,
    step_per_seq_s=0.001,
    prefill_token_s=0.0001,
    startup_s=0.0,
)


def burst(count: int, prompt: int = 100, output: int = 50) -> list[tuple[float, int, int]]:
    return [(0.0, prompt, output)] * count


def test_requests_wait_only_once_concurrency_passes_max_num_seqs() -> None:
    _, waiting_at_limit = simulate(PARAMS, burst(PARAMS.max_num_seqs))
    _, waiting_past_limit = simulate(PARAMS, burst(PARAMS.max_num_seqs + 3))
    assert waiting_at_limit == 0
    assert waiting_past_limit == 3


def test_time_to_first_token_grows_with_queue_depth() -> None:
    outcomes, _ = simulate(PARAMS, burst(12))
    ttfts = [o.ttft for o in outcomes]
    first_wave, second_wave, third_wave = ttfts[0:4], ttfts[4:8], ttfts[8:12]
    assert max(first_wave) < min(second_wave)
    assert max(second_wave) < min(third_wave)
    assert all(o.queued == 0 for o in outcomes[:4]) and all(o.queued > 0 for o in outcomes[4:])


def test_each_request_slows_down_as_the_batch_grows_while_total_throughput_rises() -> None:
    alone, _ = simulate(PARAMS, burst(1, output=200))
    crowd, _ = simulate(PARAMS, burst(4, output=200))
    per_request_alone = 200 / (alone[0].e2e - alone[0].ttft)
    per_request_crowd = 200 / (crowd[0].e2e - crowd[0].ttft)
    assert per_request_crowd < per_request_alone
    assert 4 * per_request_crowd > per_request_alone


def test_prefill_time_grows_with_prompt_length() -> None:
    short, _ = simulate(PARAMS, burst(1, prompt=100))
    long, _ = simulate(PARAMS, burst(1, prompt=4_000))
    assert long[0].ttft > short[0].ttft + 3_900 * PARAMS.prefill_token_s * 0.9


def test_a_long_prompt_is_prefilled_in_chunks_of_max_num_batched_tokens() -> None:
    state = add_request(EngineState(), Seq(1, prompt_tokens=2_000, output_tokens=5, arrived_at=0))
    first = step(state, PARAMS)
    assert first is not None
    assert first.state.running[0].computed == PARAMS.max_num_batched_tokens
    assert first.events == ()


def test_the_kv_budget_holds_back_requests_even_below_max_num_seqs() -> None:
    tight = replace(PARAMS, kv_cache_tokens=8_192, max_model_len=4_096, max_num_seqs=64)
    _, waiting = simulate(tight, burst(8, prompt=2_000, output=10))
    assert waiting >= 4


def test_sequences_are_preempted_when_decoding_runs_out_of_kv_blocks() -> None:
    tight = replace(PARAMS, kv_cache_tokens=2_048, max_model_len=1_024, max_num_seqs=8)
    state = EngineState()
    for rid in range(4):
        state = add_request(state, Seq(rid, prompt_tokens=400, output_tokens=400, arrived_at=0))
    while state.preemptions == 0 and (state.running or state.waiting):
        result = step(state, tight)
        assert result is not None
        state = result.state
    assert state.preemptions >= 1
    assert used_blocks(state, tight) <= tight.total_blocks


def test_every_request_finishes_with_every_block_returned() -> None:
    state = EngineState()
    for rid in range(10):
        state = add_request(state, Seq(rid, prompt_tokens=300, output_tokens=30, arrived_at=0))
    finished = 0
    while (result := step(state, PARAMS)) is not None:
        state = result.state
        finished += sum(1 for e in result.events if e.finished)
    assert finished == 10
    assert used_blocks(state, PARAMS) == 0


def test_a_model_length_beyond_the_kv_cache_is_refused_like_vllm_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        CapacityParams(kv_cache_tokens=1_000, max_model_len=2_000)


def test_defaults_describe_gpt_oss_120b_on_one_h100() -> None:
    # docs/sources.md, Sizing: 1.71 GiB of KV at 36,864 B per token.
    defaults = CapacityParams()
    assert defaults.kv_cache_tokens == pytest.approx(1.71 * 2**30 / 36_864, rel=0.01)
    assert defaults.max_model_len <= defaults.kv_cache_tokens


def test_sliding_window_layers_hold_the_windows_blocks_from_the_same_pool() -> None:
    state = add_request(EngineState(), Seq(1, prompt_tokens=1_000, output_tokens=50, arrived_at=0))
    while not (state.running and state.running[0].generated >= 10):
        result = step(state, PARAMS)
        assert result is not None
        state = result.state
    (seq,) = state.running
    # vLLM SlidingWindowManager: the step that computed the last token held blocks for the 127
    # tokens before it and for itself; earlier blocks had gone back to the pool.
    before = seq.computed - 1
    assert seq.window == blocks_for(before + 1, 16) - (before - 127) // 16
    assert 8 <= seq.window <= 9
    assert used_blocks(state, PARAMS) == blocks_for(seq.computed, 16) + seq.window


def test_a_model_length_that_fits_only_without_the_window_blocks_is_refused() -> None:
    # vLLM's startup check counts both groups (kv_cache_interface.py max_memory_usage_bytes).
    CapacityParams(kv_cache_tokens=8_192, max_model_len=8_192, sliding_window=None)
    with pytest.raises(ValueError, match="does not fit"):
        CapacityParams(kv_cache_tokens=8_192, max_model_len=8_192)
