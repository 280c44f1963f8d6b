"""The whole of gptoss on one machine with no GPU: a local control plane with fake GPU nodes,
the operator, the router, vLLM simulators on the pods and simulated hosted providers."""

__version__ = "0.1.0"
