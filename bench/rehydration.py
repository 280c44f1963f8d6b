"""What a rehydrated Responses turn adds: latency of ``previous_response_id`` with N earlier
turns, and of a ``conversation`` turn with N earlier turns, over a stateless turn, with the
store in-process and on a real Redis on loopback.

    .venv/bin/python bench/rehydration.py [--requests 1000] [--router-cpu 0] [--other-cpu 1]

A fast fake upstream (raw asyncio on uvloop, answers every ``/v1/responses`` at once with a
short message, each with an id of its own) runs in one process; the router (``python -m
gptoss_router``, pinned to one core) in another, once with its in-process store and once with
a ``redis-server`` on loopback (``gptoss_localkube.redis_server``). The client is a minimal
keep-alive HTTP/1.1 client, one request at a time. For each history length N a chain of N
kept turns is made first; then each timed request continues it (``previous_response_id`` of
the N-th, ``store: true``: one read, the history rebuilt into one stateless upstream request,
the new response kept). The baseline is a stateless turn (``store: false``, no
``previous_response_id``) in the same run; ``keep`` is a first turn that is kept (N = 0).

``conv N=n`` continues a conversation of n earlier turns (``conversation``, ``store: true``):
the conversation's turn lock taken and given back (two store calls), its items read, the new
response kept and the turn's items appended to the conversation (a read and a compare-and-set
write). A conversation grows by every turn, so each timed request has its own: one
conversation per N is filled by n real turns, and its items are copied (``POST
/v1/conversations`` and ``/items``, 20 at a time, before any timing) into one fresh
conversation per request. ``conv N=0`` is a first turn of an empty conversation. The last
column is what a conversation turn adds over a ``previous_response_id`` turn of the same N
(``keep`` for N = 0). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
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
WARMUP = 50  # untimed requests per case
MAX_ITEMS = 20  # conversation items added per call (as OpenAI allows, and the router)
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
                    "id": "msg_0",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": _ANSWER, "annotations": []}],
                }
            ],
            "usage": {"input_tokens": 20, "output_tokens": 20, "total_tokens": 40},
        }
    ).encode()


# -- the fake upstream ----------------------------------------------------------------------


# Every answer's message gets an id of its own, as from a real backend: a conversation holds
# an item id once, and its items are paged by id.
_MESSAGE_IDS = itertools.count(1)


class _Upstream(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.head, self.tail = _response_doc().split(b'"msg_0"')

    @property
    def doc(self) -> bytes:
        """The answer, with a fresh message id."""
        return self.head + b'"msg_%032x"' % next(_MESSAGE_IDS) + self.tail

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (request := next_request(self.buffer)) is not None:
            body, self.buffer = request
            doc = self.doc
            if b'"stream":true' in body:  # the router gathers whole answers from streams
                event = b'event: response.completed\ndata: {"type":"response.completed",'
                event += b'"response":' + doc + b"}\n\n"
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: "
                    + str(len(event)).encode()
                    + b"\r\n\r\n"
                    + event
                )
                continue
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(doc)).encode()
                + b"\r\n\r\n"
                + doc
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

    async def call(
        self, body: dict[str, Any] | None, path: str = "/v1/responses"
    ) -> tuple[float, dict[str, Any]]:
        """One request (a POST of ``body``, a GET without); (seconds to its last byte, the
        answer)."""
        data = b"" if body is None else json.dumps(body).encode()
        method = b"GET " if body is None else b"POST "
        started = time.perf_counter()
        self.writer.write(
            method + path.encode() + b" HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer "
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


def _turn(
    text: str, *, previous: str | None, store: bool, conversation: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "input": text, "store": store}
    if previous is not None:
        body["previous_response_id"] = previous
    if conversation is not None:
        body["conversation"] = conversation
    return body


async def _conversation_items(client: _Client, conversation: str) -> list[dict[str, Any]]:
    """Every item of ``conversation``, oldest first (paged, 100 at a time)."""
    items: list[dict[str, Any]] = []
    after = ""
    while True:
        path = f"/v1/conversations/{conversation}/items?order=asc&limit=100{after}"
        _, page = await client.call(None, path)
        items += page["data"]
        if not page["has_more"]:
            return items
        after = f"&after={page['last_id']}"


async def _conversations(client: _Client, items: list[dict[str, Any]], count: int) -> list[str]:
    """``count`` fresh conversations, each holding a copy of ``items``."""
    made = []
    for _ in range(count):
        _, conversation = await client.call({"items": items[:MAX_ITEMS]}, "/v1/conversations")
        for start in range(MAX_ITEMS, len(items), MAX_ITEMS):
            path = f"/v1/conversations/{conversation['id']}/items"
            await client.call({"items": items[start : start + MAX_ITEMS]}, path)
        made.append(conversation["id"])
    return made


async def _measure(port: int, requests: int) -> dict[str, list[float]]:
    client = _Client(*await asyncio.open_connection("127.0.0.1", port))
    question = "And what about tomorrow, should I take an umbrella to the museum?"
    # each case: the body of every request (warm-up first), or one body for all of them
    cases: dict[str, list[dict[str, Any]] | dict[str, Any]] = {
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
    _, template = await client.call({}, "/v1/conversations")
    made = 0
    for n in (0, *HISTORIES):
        while made < n:  # extend the one template conversation to n turns
            body = _turn(f"turn {made}: {question}", previous=None, store=True)
            await client.call({**body, "conversation": template["id"]})
            made += 1
        items = await _conversation_items(client, template["id"])
        if len(items) != 2 * n:  # each turn: its input message, its answer
            raise RuntimeError(f"a conversation of {n} turns holds {len(items)} items")
        cases[f"conv N={n}"] = [
            _turn(question, previous=None, store=True, conversation=conversation)
            for conversation in await _conversations(client, items, WARMUP + requests)
        ]
    sent = dict.fromkeys(cases, 0)

    async def call(name: str) -> float:
        case = cases[name]
        body = case if isinstance(case, dict) else case[sent[name]]
        sent[name] += 1
        elapsed, _ = await client.call(body)
        return elapsed

    for name in cases:  # warm up
        for _ in range(WARMUP):
            await call(name)
    timings: dict[str, list[float]] = {name: [] for name in cases}
    order = list(cases)
    rng = random.Random(7)  # noqa: S311 - an order of cases, not a secret
    for _ in range(requests):  # interleaved in a new order each round: drift hits all alike
        rng.shuffle(order)
        for name in order:
            timings[name].append(await call(name))
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
        print(
            "store      case        p50 ms   p99 ms   added p50/p99 ms   p50 ratio"
            "   conv over prev p50/p99 ms"
        )
        # each conversation row under the previous_response_id row of its N
        rows = ["stateless", "keep", "conv N=0"]
        rows += [row for n in HISTORIES for row in (f"N={n}", f"conv N={n}")]
        for store in ("memory", "redis"):
            timings = _run(store, upstream_port, args)
            p50s = {name: percentile(values, 0.5) for name, values in timings.items()}
            p99s = {name: percentile(values, 0.99) for name, values in timings.items()}
            base50, base99 = p50s["stateless"], p99s["stateless"]
            for name in rows:
                p50, p99 = p50s[name], p99s[name]
                line = (
                    f"{store:<10} {name:<10} {p50 * 1e3:7.3f}  {p99 * 1e3:7.3f}   "
                    f"{(p50 - base50) * 1e3:7.3f}/{(p99 - base99) * 1e3:7.3f}   "
                    f"{p50 / base50:6.2f}"
                )
                if name.startswith("conv "):
                    same = "keep" if name == "conv N=0" else name.removeprefix("conv ")
                    line += f"   {(p50 - p50s[same]) * 1e3:7.3f}/{(p99 - p99s[same]) * 1e3:7.3f}"
                print(line)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-upstream":
        serve_upstream(int(sys.argv[2]))
    else:
        main()
