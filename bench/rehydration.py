"""What a rehydrated Responses turn adds: latency of ``previous_response_id`` with N earlier
turns over a stateless turn, with the store in-process and on a real Redis on loopback.

    .venv/bin/python bench/rehydration.py [--requests 1000] [--router-cpu 0] [--other-cpu 1]

A fast fake upstream (raw asyncio on uvloop, answers every ``/v1/responses`` at once with a
short message) runs in one process; the router (``python -m gptoss_router``, pinned to one
core) in another, once with its in-process store and once with a ``redis-server`` on loopback
(``gptoss_localkube.redis_server``). The client is a minimal keep-alive HTTP/1.1 client, one
request at a time. For each history length N a chain of N kept turns is made first; then each
timed request continues it (``previous_response_id`` of the N-th, ``store: true``: one read,
the history rebuilt into one stateless upstream request, the new response kept). The baseline
is a stateless turn (``store: false``, no ``previous_response_id``) in the same run; ``keep``
is a first turn that is kept (N = 0). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness.http1 import next_request  # noqa: E402
from bench.harness.processes import free_port, percentile, pinned_process, wait_for_port  # noqa: E402

MODEL = "gpt-oss-120b"
APP_KEY = "bench-app-key-0123456789"
HISTORIES = (1, 4, 16, 64)
_ANSWER = "The weather in Paris is mild today, about eighteen degrees, with a light breeze."


def _response_doc() -> bytes:
    return json.dumps(
        {
            "id": "resp_upstream",
            "object": "response",
            "created_at": 1,
            "status": "completed",
            "model": MODEL,
            "output": [
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": _ANSWER, "annotations": []}],
                }
            ],
            "usage": {"input_tokens": 20, "output_tokens": 20, "total_tokens": 40},
        }
    ).encode()


# -- the fake upstream ----------------------------------------------------------------------


class _Upstream(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.doc = _response_doc()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (request := next_request(self.buffer)) is not None:
            body, self.buffer = request
            if b'"stream":true' in body:  # the router gathers whole answers from streams
                event = b'event: response.completed\ndata: {"type":"response.completed",'
                event += b'"response":' + self.doc + b"}\n\n"
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: "
                    + str(len(event)).encode()
                    + b"\r\n\r\n"
                    + event
                )
                continue
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(self.doc)).encode()
                + b"\r\n\r\n"
                + self.doc
            )


def serve_upstream(port: int) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Upstream, "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(main())


# -- a minimal keep-alive client ------------------------------------------------------------


class _Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def call(self, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """One request; (seconds to its last byte, the answer)."""
        data = json.dumps(body).encode()
        started = time.perf_counter()
        self.writer.write(
            b"POST /v1/responses HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer "
            + APP_KEY.encode() + b"\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(data)).encode() + b"\r\n\r\n" + data
        )  # fmt: skip
        head = await self.reader.readuntil(b"\r\n\r\n")
        lowered = head.lower()
        length = int(lowered.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        payload = await self.reader.readexactly(length)
        elapsed = time.perf_counter() - started
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(payload.decode(errors="replace"))
        return elapsed, json.loads(payload)


def _turn(text: str, *, previous: str | None, store: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "input": text, "store": store}
    if previous is not None:
        body["previous_response_id"] = previous
    return body


async def _measure(port: int, requests: int) -> dict[str, list[float]]:
    client = _Client(*await asyncio.open_connection("127.0.0.1", port))
    question = "And what about tomorrow, should I take an umbrella to the museum?"
    cases: dict[str, dict[str, Any]] = {
        "stateless": _turn(question, previous=None, store=False),
        "keep": _turn(question, previous=None, store=True),
    }
    previous: str | None = None
    made = 0
    for n in HISTORIES:
        while made < n:  # extend the one chain to n turns
            _, answer = await client.call(
                _turn(f"turn {made}: {question}", previous=previous, store=True)
            )
            previous, made = answer["id"], made + 1
        cases[f"N={n}"] = _turn(question, previous=previous, store=True)
    for body in cases.values():  # warm up
        for _ in range(50):
            await client.call(body)
    timings: dict[str, list[float]] = {name: [] for name in cases}
    order = list(cases)
    rng = random.Random(7)  # noqa: S311 - an order of cases, not a secret
    for _ in range(requests):  # interleaved in a new order each round: drift hits all alike
        rng.shuffle(order)
        for name in order:
            elapsed, _ = await client.call(cases[name])
            timings[name].append(elapsed)
    client.writer.close()
    return timings


# -- orchestration --------------------------------------------------------------------------


def _run(store: str, upstream_port: int, args: argparse.Namespace) -> dict[str, list[float]]:
    router_port = free_port()
    config: dict[str, Any] = {
        "port": router_port,
        "host": "127.0.0.1",
        "log_level": "warning",
        "apps": [{"name": "bench", "key": APP_KEY}],
        "models": {
            MODEL: {"local": {"pods": [f"http://127.0.0.1:{upstream_port}"], "scrape": False}}
        },
    }
    env = dict(os.environ)
    with contextlib.ExitStack() as stack:
        if store == "redis":
            from gptoss_localkube.redis_server import RedisServer, ensure_redis

            redis = stack.enter_context(RedisServer(binary=ensure_redis()))
            redis.start()
            with contextlib.suppress(OSError):
                if redis.pid is not None:
                    os.sched_setaffinity(redis.pid, {args.other_cpu})
            # A shared 2-core machine stalls now and then past the default 0.25 s bound.
            config["store"] = {"url": redis.url, "key_env": "BENCH_REDIS_KEY", "timeout_s": 2.0}
            env["BENCH_REDIS_KEY"] = redis.password
        handle = stack.enter_context(tempfile.NamedTemporaryFile("w", suffix=".json", delete=False))
        json.dump(config, handle)  # JSON is YAML
        handle.flush()
        stack.callback(Path(handle.name).unlink)
        router = [sys.executable, "-m", "gptoss_router", "--config", handle.name]
        stack.enter_context(pinned_process(router, args.router_cpu, env))
        wait_for_port(router_port)
        return uvloop.run(_measure(router_port, args.requests))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per case")
    parser.add_argument("--router-cpu", type=int, default=0)
    parser.add_argument("--other-cpu", type=int, default=1)
    args = parser.parse_args()
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {args.other_cpu})
    upstream_port = free_port()
    here = [sys.executable, __file__, "--serve-upstream", str(upstream_port)]
    with pinned_process(here, args.other_cpu):
        wait_for_port(upstream_port)
        print(
            f"{args.requests} timed requests per case, one at a time, interleaved in random order"
        )
        print("store      case        p50 ms   p99 ms   added p50/p99 ms   p50 ratio")
        for store in ("memory", "redis"):
            timings = _run(store, upstream_port, args)
            base50, base99 = (
                percentile(timings["stateless"], 0.5),
                percentile(timings["stateless"], 0.99),
            )
            for name, values in timings.items():
                p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
                print(
                    f"{store:<10} {name:<10} {p50 * 1e3:7.3f}  {p99 * 1e3:7.3f}   "
                    f"{(p50 - base50) * 1e3:7.3f}/{(p99 - base99) * 1e3:7.3f}   "
                    f"{p50 / base50:6.2f}"
                )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-upstream":
        serve_upstream(int(sys.argv[2]))
    else:
        main()
