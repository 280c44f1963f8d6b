"""vLLM's own interface as data: the ``vllm serve`` command line and the protocol's field sets.

Dumped from vLLM's parser and pydantic models by ``vllmspec/dump.py`` (run where vLLM is
installed) and committed per vLLM version, so the operator and the simulator check against what
vLLM really accepts without vLLM installed.
"""
