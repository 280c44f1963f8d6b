"""Routing decisions: which backends may serve a request, in which order, and who may ask.

``policy`` orders candidates (pure); ``backends`` joins configuration and live state into plans
and targets; ``access`` checks app keys and per-request overrides; ``holding`` parks requests
that only a local pod may take; ``retry_budget`` bounds retries; ``served_models`` is the table
of models as discovery last left it.
"""
