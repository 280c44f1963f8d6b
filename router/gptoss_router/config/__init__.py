"""The shape of the router's configuration: one module per part of the file.

Pure data (pydantic models); reading the file and the environment lives in ``settings.py``.

- ``base``: what every part shares (unknown keys rejected, values frozen) and how a secret
  is given (inline, from a mounted Secret file or from a named environment variable);
- ``prices``: prices and price caps, in dollars per million tokens;
- ``models``: the models served, each with its local pool and its spillover policy;
- ``providers``: the hosted OpenAI-compatible providers overflow may go to;
- ``apps``: the apps allowed to call the router, their routes and limits;
- ``store``: the shared state store every replica uses;
- ``tuning``: timeouts, failover and health knobs.

``Price`` and ``PriceCap`` are also named here, as the package's prices for code outside the
router (the economics benchmark prices its backends with them).
"""

from __future__ import annotations

from gptoss_router.config.prices import Price, PriceCap

__all__ = ["Price", "PriceCap"]
