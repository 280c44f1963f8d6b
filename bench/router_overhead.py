"""What the router adds: latency (p50/p99) and requests/s against a direct call, same upstream.

    .venv/bin/python bench/router_overhead.py [--requests 3000] [--router-cpu 0] [--other-cpu 1]
                                              [--whole]

A fast fake upstream (raw asyncio on uvloop, answers at once) runs in one process; the router
(``gptoss-router`` via ``python -m gptoss_router``, uvloop + httptools, access log off) runs in
another, pinned to one core. The load generator is a minimal keep-alive HTTP/1.1 client so
that it, not httpx, sets the floor. Each case is measured direct-to-upstream and through the
router in the same run, with the router's CPU time per request (from /proc: steadier than
requests/s on a shared machine); figures are printed, never asserted. ``ROUTER_CMD`` replaces
``-m gptoss_router`` (for instance with a profiling wrapper script). In ``json`` mode the router
asks the upstream for a stream and assembles the whole answer (``tuning.gather_streams``, the
default); ``--whole`` asks for the whole answer as the client did, to measure what that costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness.http1 import next_request  # noqa: E402
from bench.harness.processes import free_port, percentile, pinned_process, wait_for_port  # noqa: E402

MODEL = "gpt-oss-120b"
CHUNKS = 20
_DOC = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
).encode()


def _chunk(i: int) -> bytes:
    body = {"model": MODEL, "choices": [{"index": 0, "delta": {"content": f"t{i}"}}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


# vLLM opens a chat stream with a role-only chunk (serving_chat.py, first_iteration), which the
# router reads past before it commits (openai/openings.py).
_ROLE = (
    b'data: {"model":"gpt-oss-120b",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
)
_EVENTS = (
    [_ROLE]
    + [_chunk(i) for i in range(CHUNKS)]
    + [
        b'data: {"model":"gpt-oss-120b","choices":[],'
        b'"usage":{"prompt_tokens":5,"completion_tokens":20}}\n\n',
        b"data: [DONE]\n\n",
    ]
)


# -- the fake upstream ----------------------------------------------------------------------


class _Upstream(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (request := next_request(self.buffer)) is not None:
            body, self.buffer = request
            self._answer(b'"stream":true' in body or b'"stream": true' in body)

    def _answer(self, stream: bool) -> None:
        if not stream:
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(_DOC)).encode()
                + b"\r\n\r\n"
                + _DOC
            )
            return
        parts = [b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"]
        parts.append(b"transfer-encoding: chunked\r\n\r\n")
        for event in _EVENTS:
            parts.append(f"{len(event):x}\r\n".encode() + event + b"\r\n")
        parts.append(b"0\r\n\r\n")
        self.transport.write(b"".join(parts))


def serve_upstream(port: int) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Upstream, "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(main())


# -- a minimal keep-alive client ------------------------------------------------------------


class _Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def call(self, host: str, body: bytes) -> tuple[float, float]:
        """Send one request; (seconds to the first body byte, seconds to the end)."""
        started = time.perf_counter()
        self.writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: " + host.encode()
            + b"\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip
        head = await self.reader.readuntil(b"\r\n\r\n")
        lowered = head.lower()
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(head.decode(errors="replace"))
        if b"content-length:" in lowered:
            length = int(lowered.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            await self.reader.readexactly(length)
            done = time.perf_counter() - started
            return done, done
        first: float | None = None
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            await self.reader.readexactly(size + 2)
            if first is None and size:
                first = time.perf_counter() - started
            if size == 0:
                return first or 0.0, time.perf_counter() - started


async def _load(
    port: int, *, concurrency: int, total: int, stream: bool
) -> tuple[list[float], list[float], float]:
    body = json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    ).encode()
    clients = [
        _Client(*await asyncio.open_connection("127.0.0.1", port)) for _ in range(concurrency)
    ]
    for client in clients:  # warm up each connection
        await client.call("bench", body)
    firsts: list[float] = []
    totals: list[float] = []
    remaining = total

    async def worker(client: _Client) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            first, whole = await client.call("bench", body)
            firsts.append(first)
            totals.append(whole)

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    elapsed = time.perf_counter() - started
    for client in clients:
        client.writer.close()
    return firsts, totals, len(totals) / elapsed


# -- orchestration --------------------------------------------------------------------------


def _cpu_s(pid: int) -> float:
    """The CPU seconds ``pid`` has used (user and system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--router-cpu", type=int, default=0)
    parser.add_argument("--other-cpu", type=int, default=1)
    parser.add_argument(
        "--whole",
        action="store_true",
        help="ask the upstream for whole answers as such (tuning.gather_streams: false) instead "
        "of streams the router assembles",
    )
    args = parser.parse_args()
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {args.other_cpu})
    upstream_port, router_port = free_port(), free_port()
    config = {
        "port": router_port,
        "host": "127.0.0.1",
        "log_level": "warning",
        "allow_anonymous": True,
        "tuning": {"gather_streams": not args.whole},
        "models": {
            MODEL: {"local": {"pods": [f"http://127.0.0.1:{upstream_port}"], "scrape": False}}
        },
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(config, handle)  # JSON is YAML
    here = [sys.executable, __file__, "--serve-upstream", str(upstream_port)]
    router = [
        sys.executable,
        *os.environ.get("ROUTER_CMD", "-m gptoss_router").split(),
        "--config",
        handle.name,
    ]
    with (
        pinned_process(here, args.other_cpu),
        pinned_process(router, args.router_cpu) as router_pid,
    ):
        wait_for_port(upstream_port)
        wait_for_port(router_port)
        print(f"router idle RSS: {_rss_mib(router_pid):.1f} MiB (pinned to CPU {args.router_cpu})")
        header = "mode        conc  direct p50/p99 ms   router p50/p99 ms   added p50/p99 ms"
        print(header + "   direct rps  router rps  ratio  added TTFT p50 ms  router CPU us/req")
        for stream in (False, True):
            for concurrency in (1, 16, 64):
                runs = {}
                for name, port in (("direct", upstream_port), ("router", router_port)):
                    before = _cpu_s(router_pid)
                    runs[name] = uvloop.run(
                        _load(port, concurrency=concurrency, total=args.requests, stream=stream)
                    )
                    used = _cpu_s(router_pid) - before  # the router's own (idle when direct)
                # The router's CPU per request, its warm-up requests included: steadier than
                # requests/s when other work shares the machine.
                per_request_us = used / (args.requests + concurrency) * 1e6
                (d_first, d_total, d_rps), (r_first, r_total, r_rps) = (
                    runs["direct"],
                    runs["router"],
                )
                d50, d99 = percentile(d_total, 0.5) * 1e3, percentile(d_total, 0.99) * 1e3
                r50, r99 = percentile(r_total, 0.5) * 1e3, percentile(r_total, 0.99) * 1e3
                ttft = (statistics.median(r_first) - statistics.median(d_first)) * 1e3
                print(
                    f"{'stream' if stream else 'json':<10} {concurrency:>4}  "
                    f"{d50:7.3f}/{d99:7.3f}     {r50:7.3f}/{r99:7.3f}     "
                    f"{r50 - d50:7.3f}/{r99 - d99:7.3f}   {d_rps:9.0f}  {r_rps:9.0f}  "
                    f"{r_rps / d_rps:5.2f}  {ttft:8.3f}  {per_request_us:16.0f}"
                )
        print(f"router RSS after the run: {_rss_mib(router_pid):.1f} MiB")
    Path(handle.name).unlink()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-upstream":
        serve_upstream(int(sys.argv[2]))
    else:
        main()
