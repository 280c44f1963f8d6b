"""Faithful simulators of vLLM serving gpt-oss and of hosted OpenAI-compatible providers."""

__version__ = "0.1.0"
