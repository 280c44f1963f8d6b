"""Router chaos under a steady load: fail in band, kill, hang, 5xx- and 429-storm each backend.

    .venv/bin/python bench/router_chaos.py [--clients 12] [--fault-seconds 3] [--json PATH]

Three backends serve one model: two vLLM simulators (``pod-a``, ``pod-b``, at most 4 requests
each, so the rest spills) and a provider simulator (``fireworks``), each in its own process on
loopback. The router runs in this process on uvicorn; ``clients`` loops send streamed chat
requests to it without pause for the whole run. After a quiet baseline each backend in turn is

    in-band  fails every request in band (200, then the engine's error event) while its
           health checks pass
    kill   SIGKILLed (streams on it break), then started again on the same port
    hang   accepts requests and never answers
    5xx    answers 500 to everything
    429    answers 429 with Retry-After: 1 to everything

for ``fault_s`` seconds, then healed. Per phase (a request belongs to the phase it started in):

    failed      client-visible failures before the first byte (goal 0: another backend serves)
    in-band     streams that broke after their first byte and ended with an error event
                (counted in the phase they broke in)
    truncated   streams that ended with neither [DONE] nor an error event (goal 0)
    hung        requests with no end within ``hang_s`` (goal 0)
    retries     attempts after the first (the router's counter) per client request (goal <= 20 %)
    eject       seconds from the fault to the backend leaving rotation (stale, ejected or spent)
    readmit     seconds from the backend being healthy again to its return to rotation
                (``-``: it never left, or never came back within ``readmit_within_s``)

Figures are printed, not asserted; ``tests/router/test_chaos.py`` asserts the goals on a short
run. Traffic never leaves 127.0.0.1 and every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chaos.plan import ChaosPlan  # noqa: E402
from bench.chaos.run import run_chaos  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=ChaosPlan.clients)
    parser.add_argument("--fault-seconds", type=float, default=ChaosPlan.fault_s)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    plan = ChaosPlan(clients=args.clients, fault_s=args.fault_seconds)
    report = asyncio.run(run_chaos(plan))
    print(report.table())
    if args.json:
        phases = [asdict(p) for p in report.phases]
        figures: dict[str, Any] = {"plan": asdict(plan), "phases": phases}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
