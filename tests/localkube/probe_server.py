"""A container stand-in for runtime tests: serves /healthz always, and /ready only once the
file named by READY_FILE exists. Listens on $POD_IP:$PORT."""

from __future__ import annotations

import http.server
import os
from pathlib import Path


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ready = Path(os.environ["READY_FILE"]).exists()
        ok = self.path == "/healthz" or (self.path == "/ready" and ready)
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


http.server.HTTPServer((os.environ["POD_IP"], int(os.environ["PORT"])), Handler).serve_forever()
