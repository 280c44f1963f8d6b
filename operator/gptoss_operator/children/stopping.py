"""How a vLLM replica stops without cutting a stream (pure).

Deleting a pod sets its ``deletionTimestamp`` and runs its ``preStop`` hook before the container
gets SIGTERM; the whole stop may take ``terminationGracePeriodSeconds`` (docs/sources.md,
Rollouts). The router and the Service stop choosing a pod once it has a ``deletionTimestamp``
(``router/gptoss_router/watch/cluster_state.py``), but they learn it through a watch, a moment
later. So the hook:

1. waits ``NOTICE_SECONDS`` for the router and the endpoints to drop the pod;
2. then polls vLLM's own ``/metrics`` until no request is running or waiting
   (``vllm:num_requests_running`` and ``vllm:num_requests_waiting``, docs/sources.md, vLLM
   metrics), for at most the grace period less ``NOTICE_SECONDS`` (the container still needs a
   moment to exit after SIGTERM);
3. returns, and the kubelet sends SIGTERM.

The hook runs ``python3``, which every vLLM image has, and only the standard library.
"""

from __future__ import annotations

from typing import Any

from gptoss_operator import names

__all__ = ["NOTICE_SECONDS", "drain_script", "pre_stop_hook"]

NOTICE_SECONDS = 10

_SCRIPT = """\
import re, time, urllib.request
deadline = time.monotonic() + {budget}
time.sleep({notice})
pattern = re.compile(r'^vllm:num_requests_(?:running|waiting)(?:{{[^}}]*}})? ([0-9.eE+-]+)$', re.M)
while time.monotonic() < deadline:
    try:
        text = urllib.request.urlopen('{url}', timeout=5).read().decode()
    except Exception:
        break
    if sum(float(v) for v in pattern.findall(text)) == 0:
        break
    time.sleep(2)
"""


def drain_script(
    grace_seconds: int, *, port: int = names.VLLM_PORT, notice: float = NOTICE_SECONDS
) -> str:
    """The Python the preStop hook runs for a pod allowed ``grace_seconds`` to stop."""
    budget = max(grace_seconds - NOTICE_SECONDS, NOTICE_SECONDS)
    url = f"http://127.0.0.1:{port}/metrics"
    return _SCRIPT.format(budget=budget, notice=notice, url=url)


def pre_stop_hook(grace_seconds: int) -> dict[str, Any]:
    """The container's ``lifecycle`` with the draining ``preStop`` hook."""
    return {"preStop": {"exec": {"command": ["python3", "-c", drain_script(grace_seconds)]}}}
