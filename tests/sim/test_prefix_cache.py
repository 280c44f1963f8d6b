"""Prefix caching as vLLM does it: a hash chain over full blocks, hits that skip prefill, LRU
eviction of free cached blocks under the KV budget (vLLM 0.17.0 ``vllm/v1/core``)."""

from __future__ import annotations

from dataclasses import replace

from gptoss_sim import rendered_prompt
from gptoss_sim.capacity import CapacityParams
from gptoss_sim.chat_request import ChatRequest, parse_chat
from gptoss_sim.engine_state import EngineState, Seq, add_request, kv_usage
from gptoss_sim.prefix_cache import KvPool, block_hashes, chain_root
from gptoss_sim.responses_api import parse_responses
from gptoss_sim.scheduler import step
from gptoss_sim.virtual_time import simulate
from gptoss_sim.vllm_responses_prompt import continuing, render

PARAMS = CapacityParams(
    max_num_seqs=8,
    max_num_batched_tokens=512,
    kv_cache_tokens=64_000,
    max_model_len=8_192,
    step_base_s=0.005,
    step_per_seq_s=0.001,
    prefill_token_s=0.0001,
    startup_s=0.0,
    sliding_window=None,  # the full-attention layers' cache alone: block counts stay exact
)
SIZE = PARAMS.block_size


def ids(count: int, start: int = 0) -> list[int]:
    return list(range(start, start + count))


def run(state: EngineState, params: CapacityParams = PARAMS) -> EngineState:
    """Step until every request has finished."""
    while (result := step(state, params)) is not None:
        state = result.state
    return state


def first_step_of(seq: Seq, state: EngineState, params: CapacityParams = PARAMS) -> Seq:
    result = step(add_request(state, seq), params)
    assert result is not None
    (admitted,) = [s for s in result.state.running if s.rid == seq.rid]
    return admitted


def test_only_full_blocks_are_hashed_and_each_hash_names_the_whole_prefix() -> None:
    chain = block_hashes(ids(3 * SIZE + 5), SIZE)
    assert len(chain) == 3  # the 5 trailing tokens fill no block
    same_start = block_hashes(ids(SIZE) + ids(2 * SIZE, start=1000), SIZE)
    assert same_start[0] == chain[0]
    assert same_start[1:] != chain[1:2]
    # A block's hash depends on every token before it, not only on its own.
    moved = block_hashes([7, *ids(3 * SIZE - 1)], SIZE)
    assert all(a != b for a, b in zip(moved, chain, strict=True))
    assert block_hashes(ids(SIZE), SIZE, chain_root("salt")) != chain[:1]


def test_a_repeated_long_prompt_gets_a_lower_time_to_first_token_than_a_fresh_one() -> None:
    long = block_hashes(ids(4_000), SIZE)
    other = block_hashes(ids(4_000, start=50_000), SIZE)
    arrivals = [(0.0, 4_000, 10), (10.0, 4_000, 10), (20.0, 4_000, 10)]
    outcomes, _ = simulate(PARAMS, arrivals, prompts=[long, long, other])
    first, repeat, fresh = outcomes
    assert repeat.cached_tokens == (4_000 - 1) // SIZE * SIZE
    assert first.cached_tokens == 0 and fresh.cached_tokens == 0
    assert repeat.ttft < first.ttft / 3
    assert fresh.ttft > 3 * repeat.ttft


def test_without_prefix_caching_a_repeated_prompt_is_prefilled_again() -> None:
    off = replace(PARAMS, enable_prefix_caching=False)
    long = block_hashes(ids(4_000), SIZE)
    outcomes, _ = simulate(off, [(0.0, 4_000, 10), (10.0, 4_000, 10)], prompts=[long, long])
    assert [o.cached_tokens for o in outcomes] == [0, 0]
    assert outcomes[1].ttft >= outcomes[0].ttft * 0.99


def test_the_last_token_is_recomputed_even_when_every_block_is_cached() -> None:
    prompt = 4 * SIZE
    chain = block_hashes(ids(prompt), SIZE)
    done = run(add_request(EngineState(), Seq(1, prompt, 2, arrived_at=0, hashes=chain)))
    again = first_step_of(Seq(2, prompt, 2, arrived_at=done.now, hashes=chain), done)
    # vLLM: max_cache_hit_length = num_tokens - 1, in whole blocks: 3 of the 4 blocks.
    assert again.cached_tokens == 3 * SIZE


def test_a_conversation_growing_by_a_turn_hits_the_blocks_of_its_earlier_turns() -> None:
    turn1 = ids(10 * SIZE + 3)
    turn2 = turn1[:-3] + ids(5 * SIZE, start=90_000)  # the reply opening became a message
    done = run(add_request(EngineState(), Seq(1, len(turn1), 4, 0, block_hashes(turn1, SIZE))))
    seq = Seq(2, len(turn2), 4, arrived_at=done.now, hashes=block_hashes(turn2, SIZE))
    assert first_step_of(seq, done).cached_tokens == 10 * SIZE


def test_a_finished_requests_blocks_stay_cached_but_free_and_do_not_count_as_kv_usage() -> None:
    chain = block_hashes(ids(40 * SIZE), SIZE)
    done = run(add_request(EngineState(), Seq(1, 40 * SIZE, 3, arrived_at=0, hashes=chain)))
    assert kv_usage(done, PARAMS) == 0
    assert done.pool is not None and len(done.pool.evictable) == 40
    assert done.pool.num_free == PARAMS.total_blocks


def test_cached_blocks_are_evicted_when_the_kv_budget_needs_them() -> None:
    tight = replace(PARAMS, kv_cache_tokens=64 * SIZE, max_model_len=48 * SIZE)
    first = block_hashes(ids(48 * SIZE), SIZE)
    state = run(add_request(EngineState(), Seq(1, 48 * SIZE, 1, arrived_at=0, hashes=first)), tight)
    # A different prompt needs 40 blocks: only 16 were never used, so 24 cached ones go.
    other = block_hashes(ids(40 * SIZE, start=70_000), SIZE)
    state = run(add_request(state, Seq(2, 40 * SIZE, 1, arrived_at=state.now, hashes=other)), tight)
    again = first_step_of(Seq(3, 48 * SIZE, 5, arrived_at=state.now, hashes=first), state, tight)
    # The first request's blocks were freed tail first, so its tail went and its head stayed.
    assert again.cached_tokens == 24 * SIZE


def test_free_blocks_are_evicted_least_recently_freed_first() -> None:
    pool = KvPool.empty(4)
    a, b = block_hashes(ids(2 * SIZE), SIZE)
    pool = pool.take(2)
    pool, _ = pool.register(a)
    pool, _ = pool.register(b)
    pool = pool.release((a, b))  # freed tail first: b, then a
    assert pool.num_free == 4 and pool.evictable == {a, b}
    pool = pool.take(3)  # the two never-used blocks, then b
    assert pool.evictable == {a}
    assert pool.longest_hit((a, b), 2) == 1


def test_hitting_a_free_cached_block_takes_it_out_of_the_free_queue() -> None:
    pool = KvPool.empty(3).take(1)
    (a,) = block_hashes(ids(SIZE), SIZE)
    pool, cached = pool.register(a)
    assert cached
    pool = pool.release((a,))
    assert pool.num_free == 3
    touched = pool.touch((a,))
    assert touched.num_free == 2 and touched.in_use == {a: 1} and not touched.evictable
    assert pool.num_free == 3, "operations leave the pool they were given as it was"


def test_a_block_already_cached_stays_a_private_duplicate() -> None:
    pool = KvPool.empty(4).take(2)
    (a,) = block_hashes(ids(SIZE), SIZE)
    pool, first = pool.register(a)
    pool, second = pool.register(a)
    assert (first, second) == (True, False)
    pool = pool.release((a,)).release((None,))
    assert pool.num_free == 4 and pool.evictable == {a}


def test_queries_and_hits_count_tokens_of_requests_not_preempted() -> None:
    chain = block_hashes(ids(20 * SIZE), SIZE)
    state = run(add_request(EngineState(), Seq(1, 20 * SIZE, 2, arrived_at=0, hashes=chain)))
    state = run(add_request(state, Seq(2, 20 * SIZE, 2, arrived_at=state.now, hashes=chain)))
    assert state.prefix_queries == 40 * SIZE
    assert state.prefix_hits == 19 * SIZE


def test_a_preempted_request_resumes_from_the_blocks_it_left_in_the_cache() -> None:
    budget = 64
    tight = replace(
        PARAMS, kv_cache_tokens=2_048, max_model_len=2_048, max_num_batched_tokens=budget
    )
    state = EngineState()
    for rid in range(3):
        chain = block_hashes(ids(600, start=rid * 10_000), SIZE)
        state = add_request(state, Seq(rid, 600, 600, arrived_at=0, hashes=chain))
    resumed = None
    while resumed is None:
        result = step(state, tight)
        assert result is not None
        preempted = {s.rid for s in state.waiting if s.preemptions}
        state = result.state
        back = [s for s in state.running if s.rid in preempted]
        resumed = back[0] if back else None
    # Without its cached blocks it could have recomputed no more than one step's budget.
    assert resumed.computed > budget
    assert resumed.cached_tokens == 0  # vLLM's num_cached_tokens is set on first scheduling only


def _chat(messages: list[dict[str, object]], **extra: object) -> ChatRequest:
    return parse_chat({"model": "m", "messages": messages, **extra})


LONG = "Summarise the cluster's queue latency report for the last week, per model. " * 12
TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TURN1: list[dict[str, object]] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": LONG},
]
TURN2: list[dict[str, object]] = [
    *TURN1,
    {"role": "assistant", "content": "Queues were short."},
    {"role": "user", "content": "And p99?"},
]


def test_the_rendered_prompt_has_one_token_id_per_counted_prompt_token() -> None:
    chat = _chat(TURN2, tools=[{"type": "function", "function": {"name": "f"}}])
    assert len(rendered_prompt.chat_ids(chat.messages, chat.body["tools"])) == chat.prompt_tokens


def test_a_follow_up_turn_shares_every_full_block_of_the_conversation_before_it() -> None:
    first = rendered_prompt.chat_hashes(_chat(TURN1), SIZE, "2026-11-30")
    second = rendered_prompt.chat_hashes(_chat(TURN2), SIZE, "2026-11-30")
    shared = sum(1 for a, b in zip(first, second, strict=False) if a == b)
    assert len(first) >= 5
    # Only the reply's opening (3 tokens) differs: at most the last full block is not shared.
    assert shared >= len(first) - 1


def test_the_system_message_effort_date_tools_and_cache_salt_decide_the_first_block() -> None:
    base = rendered_prompt.chat_hashes(_chat(TURN1), SIZE, "2026-11-30")
    variants = [
        rendered_prompt.chat_hashes(_chat(TURN1, reasoning_effort="high"), SIZE, "2026-11-30"),
        rendered_prompt.chat_hashes(_chat(TURN1), SIZE, "2026-12-01"),
        rendered_prompt.chat_hashes(_chat(TURN1, cache_salt="tenant-a"), SIZE, "2026-11-30"),
    ]
    for variant in variants:
        assert variant[0] != base[0]


def test_a_responses_follow_up_shares_the_blocks_of_the_turn_it_continues() -> None:
    asked = {"role": "user", "content": LONG}
    answered = {"type": "message", "role": "assistant", "content": [{"text": "Queues were short."}]}
    first_body = {"model": "m", "instructions": "Be brief.", "input": [asked], "tools": [TOOL]}
    first_prompt = render(first_body)
    first = replace(parse_responses(first_body), prompt_tokens=first_prompt.tokens)
    body = {"model": "m", "input": "And p99?", "previous_response_id": "resp_1"}
    new = render(body, continued=True)
    follow_prompt = continuing(first_prompt, [answered], new)
    follow = replace(parse_responses(body), prompt_tokens=follow_prompt.tokens)
    before = rendered_prompt.responses_hashes(first, first_prompt, SIZE, "2026-11-30")
    after = rendered_prompt.responses_hashes(follow, follow_prompt, SIZE, "2026-11-30")
    shared = sum(1 for a, b in zip(before, after, strict=False) if a == b)
    assert len(before) >= 5 and shared >= len(before) - 1


def _responses_blocks(body: dict[str, object]) -> tuple[bytes, ...]:
    prompt = render(body)
    req = replace(parse_responses(body), prompt_tokens=prompt.tokens)
    return rendered_prompt.responses_hashes(req, prompt, SIZE, "2026-11-30")


def test_responses_with_other_tools_share_no_block_from_their_tools_on() -> None:
    body = {"model": "m", "instructions": "Be brief.", "tools": [TOOL], "input": "Hi."}
    other = {**body, "tools": [{**TOOL, "name": "get_time"}]}
    assert _responses_blocks(body)[0] != _responses_blocks(other)[0]


def test_responses_with_the_same_instructions_and_tools_share_their_beginning() -> None:
    body = {"model": "m", "instructions": LONG, "tools": [TOOL], "input": "Hi."}
    later = {**body, "input": "Something else entirely, and longer than the first question."}
    first, second = _responses_blocks(body), _responses_blocks(later)
    shared = sum(1 for a, b in zip(first, second, strict=False) if a == b)
    assert shared >= len(first) - 1 >= 4
