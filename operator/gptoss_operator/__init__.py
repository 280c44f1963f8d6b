"""gptoss operator: reconciles GptOssDeployments into GPU-pinned vLLM workloads."""

__version__ = "0.1.0"
