"""What the Responses, Conversations and store tests share: apps, a function tool, clients of
the official SDK, and the router's settings with the shared store on a real redis-server."""

from __future__ import annotations

from typing import Any

import openai
from pydantic import SecretStr

from gptoss_localkube.redis_server import RedisServer
from gptoss_router.config.store import StoreConfig
from gptoss_router.settings import RouterSettings

MODEL = "gpt-oss-120b"
APPS = [
    {"name": "shop", "key": "shop-key-1"},
    {"name": "blog", "key": "blog-key-2"},
    {"name": "quiet", "key": "quiet-key-3", "strip_reasoning": True},
]
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
LOCAL = {"x-gptoss-route": "local"}
HOSTED = {"x-gptoss-route": "hosted"}


def client(url: str, key: str = "shop-key-1") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def async_client(url: str, key: str = "shop-key-1") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def weather_agent(client: openai.AsyncOpenAI, asked: list[str]) -> Any:
    """An OpenAI Agents SDK agent on ``client`` with one function tool, ``get_weather``, which
    records each city it is asked for in ``asked``."""
    from agents import Agent, OpenAIResponsesModel, function_tool

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        asked.append(city)
        return "sunny"

    return Agent(
        name="weather",
        instructions="Answer with the weather.",
        tools=[get_weather],
        model=OpenAIResponsesModel(model=MODEL, openai_client=client),
    )


def with_store(settings: RouterSettings, server: RedisServer) -> RouterSettings:
    """``settings`` with the shared store on ``server``."""
    return settings.model_copy(
        update={"store": StoreConfig(url=server.url, key=SecretStr(server.password))}
    )


def call_output(response: Any) -> dict[str, Any]:
    """The output of the first function call of ``response``."""
    call = next(item for item in response.output if item.type == "function_call")
    return {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}
