"""``gptoss-router``: load the settings, serve on uvicorn with uvloop and httptools."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from pathlib import Path

import uvicorn

from gptoss_router.errors import ConfigError
from gptoss_router.http.app import create_app
from gptoss_router.http.wire import limited_protocol
from gptoss_router.settings import load_settings

__all__ = ["main"]

# Objects a request allocates that survive the young generation's collection are those of the
# requests still in flight; with CPython's default of 700 allocations, at tens of requests in
# flight most of them are promoted and scanned again before they die. 50,000 lets them die
# young (docs/benchmarks.md, Garbage collection).
_YOUNG_THRESHOLD = 50_000


def main(argv: list[str] | None = None) -> int:
    """Run the router until interrupted; the exit status says whether it could start."""
    parser = argparse.ArgumentParser(prog="gptoss-router", description=__doc__)
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("GPTOSS_ROUTER_CONFIG"),
        help="YAML configuration file (default: $GPTOSS_ROUTER_CONFIG)",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as err:
        print(f"gptoss-router: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    _settle_heap()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=limited_protocol(
            max_header_bytes=settings.tuning.max_header_bytes,
            header_timeout_s=settings.tuning.header_timeout_s,
        ),
        log_level=settings.log_level,
        access_log=False,
        lifespan="on",
        # The router reads neither the client's address nor X-Forwarded-*; skipping them and the
        # Server header saves work on every request.
        proxy_headers=False,
        server_header=False,
    )
    return 0


def _settle_heap() -> None:
    """Keep the collector off what lives as long as the process (modules, settings, the app)
    and let a request's objects die young: a full collection then scans only what was made
    since start-up, and young collections come every 50,000 allocations, not 700.
    ``gc.freeze()`` moves every object tracked then to a permanent generation that later
    collections ignore (the ``gc`` module's documentation)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(_YOUNG_THRESHOLD, middle, old)


if __name__ == "__main__":
    raise SystemExit(main())
