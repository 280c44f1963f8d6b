"""The gateway benchmark's parts (``python bench/gateway_vs_litellm.py``); the router memory
benchmark (``bench/router_memory.py``) reuses them."""
