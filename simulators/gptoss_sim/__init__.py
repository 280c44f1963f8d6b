"""Faithful simulators of vLLM serving gpt-oss and of hosted OpenAI-compatible providers.

In tests::

    from gptoss_sim import VllmSim, VllmConfig, running
    with running(VllmSim(VllmConfig(...))) as server:
        openai.OpenAI(base_url=server.openai_base_url, api_key="x")

From a shell: ``python -m gptoss_sim vllm --host 127.1.1.1 --port 8000`` (see ``gptoss_sim.cli``).
"""

from gptoss_sim.capacity import CapacityParams
from gptoss_sim.faults import FAULT_HEADER, Fault, FaultRule, parse_rule
from gptoss_sim.providers.app import ProviderConfig, ProviderSim
from gptoss_sim.providers.profiles import (
    FIREWORKS,
    GROQ,
    OPENAI_COMPATIBLE,
    PROFILES,
    TOGETHER,
    Limits,
    Price,
    ProviderProfile,
)
from gptoss_sim.reply import ReplyParams
from gptoss_sim.server import Running, running, serve
from gptoss_sim.vllm_app import VllmSim
from gptoss_sim.vllm_config import VllmConfig

__version__ = "0.1.0"

__all__ = [
    "FAULT_HEADER",
    "FIREWORKS",
    "GROQ",
    "OPENAI_COMPATIBLE",
    "PROFILES",
    "TOGETHER",
    "CapacityParams",
    "Fault",
    "FaultRule",
    "Limits",
    "Price",
    "ProviderConfig",
    "ProviderProfile",
    "ProviderSim",
    "ReplyParams",
    "Running",
    "VllmConfig",
    "VllmSim",
    "parse_rule",
    "running",
    "serve",
]
