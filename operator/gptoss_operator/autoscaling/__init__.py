"""Replicas from demand: the pure decision (``decide``), the cost model (``economics``), reading
vLLM's and the router's metrics (``signals``) and the loop that writes ``/scale`` (``loop``).
"""
