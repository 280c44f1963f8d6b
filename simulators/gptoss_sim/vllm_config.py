"""How one simulated vLLM server is configured, and the dialect of vLLM's server it selects.

``VllmConfig`` holds what the simulator honours of ``vllm serve``'s command line and
environment (``gptoss_sim.cli`` builds it from flags): the served names, the engine's limits
and speeds (``gptoss_sim.capacity``), the reply model, the stream interval, fault rules, the
engine-death watchdog, the parsers, the Responses store, LoRA and the vLLM release simulated.
:func:`dialect_of` gives the ``gptoss_sim.vllm_protocol.Dialect`` every route answers in.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from gptoss_sim.capacity import CapacityParams
from gptoss_sim.faults import FaultRule
from gptoss_sim.lora import LoraConfig
from gptoss_sim.reply import ReplyParams
from gptoss_sim.vllm_protocol import VLLM_017, Dialect


@dataclass(frozen=True)
class VllmConfig:
    """What one simulated vLLM server runs with (``vllm serve``'s flags and environment)."""

    model: str = "openai/gpt-oss-120b"
    # More --served-model-name values: vLLM answers to each and lists each in /v1/models; the
    # first name (``model``) labels the metrics (vllm/entrypoints/openai/models/serving.py).
    aliases: tuple[str, ...] = ()
    capacity: CapacityParams = field(default_factory=CapacityParams)
    reply: ReplyParams = field(default_factory=ReplyParams)
    # vLLM's --stream-interval: tokens per streamed delta. vLLM defaults to 1; the recipe's
    # GPT-OSS_Hopper.yaml sets 20 (docs/sources.md, vLLM recipe).
    stream_interval: int = 1
    faults: tuple[FaultRule, ...] = ()
    # VLLM_KEEP_ALIVE_ON_ENGINE_DEATH: stay up after the engine dies (vllm/envs.py).
    keep_alive_on_engine_death: bool = False
    # How often vLLM's watchdog looks for a dead engine (launcher.py VLLM_WATCHDOG_TIME_S).
    watchdog_s: float = 5.0
    # VLLM_SYSTEM_START_DATE: the date in gpt-oss's system message; today's when unset
    # (vllm/entrypoints/openai/parser/harmony_utils.py, get_system_message).
    system_start_date: str | None = None
    # --enable-prompt-tokens-details: usage.prompt_tokens_details.cached_tokens on chat and
    # completions, when any prompt token was cached (chat_completion/serving.py).
    enable_prompt_tokens_details: bool = False
    # The vLLM release whose OpenAI server is simulated: "0.17.0" (the operator's image) or
    # "0.32.0" (gptoss_sim.vllm_protocol).
    vllm_version: str = VLLM_017
    # VLLM_ENABLE_RESPONSES_API_STORE=1: keep Responses in this process, for
    # previous_response_id, GET /v1/responses/{id}, cancel and background (responses_store).
    responses_store: bool = False
    # VLLM_GPT_OSS_HARMONY_SYSTEM_INSTRUCTIONS=1: a Responses request's instructions go in the
    # system message, not the developer one (gptoss_sim.vllm_responses_prompt).
    harmony_system_instructions: bool = False
    # The model `vllm serve` loads (its positional argument / --model), /v1/models `root`;
    # None: the served name.
    model_path: str | None = None
    # --tool-call-parser openai, --enable-auto-tool-choice and --reasoning-parser
    # openai_gptoss, as the operator passes them by default (None/False: flag absent).
    tool_call_parser: str | None = "openai"
    enable_auto_tool_choice: bool = True
    reasoning_parser: str | None = "openai_gptoss"
    # --enable-lora, --max-loras, --max-lora-rank, --lora-modules and
    # VLLM_ALLOW_RUNTIME_LORA_UPDATING (gptoss_sim.lora).
    lora: LoraConfig = field(default_factory=LoraConfig)


def dialect_of(config: VllmConfig, adapters: Callable[[], Collection[str]]) -> Dialect:
    """The dialect a server with ``config`` answers in; ``adapters`` names the LoRA adapters
    loaded at the time of asking."""
    return Dialect(
        version=config.vllm_version,
        served_model=config.model,
        aliases=config.aliases,
        model_path=config.model_path or config.model,
        max_model_len=config.capacity.max_model_len,
        tool_parser=config.tool_call_parser is not None,
        auto_tools=config.enable_auto_tool_choice,
        reasoning_parser=config.reasoning_parser is not None,
        adapters=adapters,
        system_instructions=config.harmony_system_instructions,
    )
