"""A stand-in for one router pod's ``/metrics``, run by the local cluster's ``process`` runtime on
the pod's IP (stdlib only).

It serves the router's two spill series with the ``deployment`` label, from a JSON file the test
rewrites (``STATE_FILE``: ``{"inflight": [[model, deployment, n]], "spilled": [[...]]}``, and
``"hang": true`` to answer ``/metrics`` only after 5 s), so a test sets each router's numbers
exactly; ``/scrapes`` says how often ``/metrics`` was read, so a
test can wait for the operator to have seen a change; ``/healthz`` is its readiness probe.
"""

from __future__ import annotations

import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SCRAPES = 0


def _metrics(state: dict[str, list[list[object]]]) -> str:
    lines = ["# TYPE gptoss_router_spilled_inflight gauge"]
    for model, deployment, value in state.get("inflight", []):
        lines.append(
            f'gptoss_router_spilled_inflight{{model="{model}",deployment="{deployment}"}} {value}'
        )
    lines.append("# TYPE gptoss_router_spilled_requests counter")
    for model, deployment, value in state.get("spilled", []):
        labels = f'model="{model}",reason="saturated",deployment="{deployment}"'
        lines.append(f"gptoss_router_spilled_requests_total{{{labels}}} {value}")
    return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        global SCRAPES
        if self.path == "/metrics":
            SCRAPES += 1
            state = json.loads(Path(os.environ["STATE_FILE"]).read_text())
            if state.get("hang"):
                time.sleep(5)
            body = _metrics(state)
        elif self.path == "/scrapes":
            body = str(SCRAPES)
        elif self.path == "/healthz":
            body = "ok"
        else:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain; version=0.0.4")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


if __name__ == "__main__":
    server = ThreadingHTTPServer((os.environ["POD_IP"], int(os.environ["PORT"])), Handler)
    server.serve_forever()
