"""gptoss router: one OpenAI-compatible endpoint over local vLLM pods and hosted providers."""

__version__ = "0.1.0"
