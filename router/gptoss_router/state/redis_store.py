"""The shared state store on a Redis (or Valkey) server, through redis-py's asyncio client.

Keys, all under ``key_prefix`` (``gptoss`` by default):

    <p>:rl:{<limit>}:<window>      sliding-window counter (integer, expires after two windows)
    <p>:spend:{<app>}:<day|month>  micro-dollars spent (expires after the period)
    <p>:spend:{<app>}:<day|month>:by  hash replica -> that replica's total in the period
    <p>:inflight:<replica>         hash pod URL -> requests this replica has on it (expires)
    <p>:replicas                   sorted set replica -> last sync, milliseconds
    <p>:benched                    hash "<kind>|<backend>" -> benched until, milliseconds
    <p>:doc:<key>                  hash v -> version, d -> a document (a stored response, a
                                   conversation), expiring after its TTL
    <p>:log:<key>                  list of entries (a streamed background response's events),
                                   expiring after its TTL from the last append
    <p>:logged:<key>               pub/sub channel: how many entries each append added
                                   (``redis_bells.py``)
    <p>:told:<topic>               pub/sub channel: what one replica tells the others

Every call is bounded by ``timeout_s`` and fails as ``StoreFailed`` (never with the password in
the message); the client does not retry on its own, the callers decide (``on_store_loss``).
A sliding-window take is one Lua script, atomic in Redis; a sync is one pipeline, in which each
spend total is a script that adds only its growth over what the replica sent before (so a sync
sent twice counts once); a document read is one script and a versioned write (a compare-and-set)
another, as are a versioned delete, a lock taken with what it guards read, and an append to a
log (its entries, its expiry and the word to its readers' bells).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError

from gptoss_router.config.store import StoreConfig
from gptoss_router.errors import ConfigError
from gptoss_router.state.bells import Bell
from gptoss_router.state.redis_bells import RedisBells
from gptoss_router.state.redis_scripts import (
    APPEND_LOG,
    CHARGE,
    DROP_DOC,
    GET_DOC,
    PUT_DOC,
    PUT_THEN_GET,
    SPEND,
    TAKE,
)
from gptoss_router.state.store import (
    ANY_VERSION,
    Bench,
    Document,
    Incoming,
    Outgoing,
    StoreFailed,
    Taken,
    spend_periods,
)

__all__ = ["RedisStore"]

T = TypeVar("T")

_DAY_S, _MONTH_S = 2 * 86400, 32 * 86400
# A replica that synced within this long counts towards the shares limits fall back to when
# the store is lost (more replicas: smaller, safer shares).
_COUNTED_MS = 30_000


class RedisStore:
    """``Store`` on one Redis server: a primary, a proxy in front of one, or the primary a
    Sentinel names (``redis_client.connect``)."""

    def __init__(
        self,
        client: aioredis.Redis,
        config: StoreConfig,
        *,
        closing: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._r = client
        self._closing = closing  # what else ``close`` releases (a Sentinel's connections)
        self._timeout = config.timeout_s
        self._prefix = config.key_prefix
        self._secret = config.key.get_secret_value() if config.key is not None else None
        # A replica that has not synced for this long is gone; its in-flight counts expire.
        self._stale_ms = math.ceil(max(3.0, 10 * config.sync_interval_s) * 1000)
        self._take = client.register_script(TAKE)
        self._charge = client.register_script(CHARGE)
        self._get_doc = client.register_script(GET_DOC)
        self._put_doc = client.register_script(PUT_DOC)
        self._drop_doc = client.register_script(DROP_DOC)
        self._put_then_get = client.register_script(PUT_THEN_GET)
        self._append_log = client.register_script(APPEND_LOG)
        self._peers: list[str] = []
        self._expired: list[str] = []  # bench fields seen past their time, deleted next sync
        self._bells = RedisBells(
            client, prefix=self._prefix, timeout_s=self._timeout, scrub=self._scrub
        )

    async def ping(self) -> None:
        """Raise ``StoreFailed`` unless the store answers (``ConfigError`` on a bad password)."""
        try:
            await self._bounded(self._r.ping())
        except StoreFailed as err:
            if isinstance(err.__cause__, AuthenticationError):
                raise ConfigError(
                    "the store refused the router's password (store.key/key_file/key_env) or "
                    "user (store.username)"
                ) from None
            raise

    async def take(self, name: str, limit: int, want: int, window_s: float, now: float) -> Taken:
        index = math.floor(now / window_s)
        keys = [self._window_key(name, index), self._window_key(name, index - 1)]
        args = [limit, want, window_s, now % window_s]
        granted, used = await self._bounded(self._take(keys=keys, args=args))
        return Taken(int(granted), int(used), window_s - now % window_s)

    async def charge(self, name: str, amount: int, window_s: float, window: int) -> None:
        keys = [self._window_key(name, window)]
        await self._bounded(self._charge(keys=keys, args=[amount, math.ceil(window_s * 2000)]))

    async def sync(self, out: Outgoing, now: float) -> Incoming:
        p, now_ms = self._prefix, int(now * 1000)
        pipe = self._r.pipeline(transaction=False)
        mine = f"{p}:inflight:{out.replica}"
        pipe.delete(mine)
        if out.inflight:
            counts: dict[Any, Any] = dict(out.inflight)
            pipe.hset(mine, mapping=counts)
            pipe.pexpire(mine, self._stale_ms)
        pipe.zadd(f"{p}:replicas", {out.replica: now_ms})
        pipe.zremrangebyscore(f"{p}:replicas", 0, now_ms - _COUNTED_MS)
        pipe.zrange(f"{p}:replicas", 0, -1, withscores=True)
        peers = [peer for peer in self._peers if peer != out.replica]
        for peer in peers:
            pipe.hgetall(f"{p}:inflight:{peer}")
        day, month = spend_periods(now)
        for spent in out.spend:
            key = self._spend_key(spent.app, spent.period)
            ttl = _MONTH_S if len(spent.period) == len(month) else _DAY_S
            # EVAL, not EVALSHA: a pipeline of registered scripts checks them first, a round trip
            pipe.eval(SPEND, 2, key, f"{key}:by", out.replica, spent.micros, ttl)
        for app in out.budget_apps:
            pipe.mget([self._spend_key(app, day), self._spend_key(app, month)])
        benched = f"{p}:benched"
        for bench in out.benches:
            pipe.hset(benched, f"{bench.kind}|{bench.key}", int(bench.until * 1000))
        gone = [f"{kind}|{key}" for kind, key in out.readmitted] + self._expired
        if gone:
            pipe.hdel(benched, *gone)
        pipe.hgetall(benched)
        results: list[Any] = await self._bounded(pipe.execute())
        return self._read(results, out, peers, now_ms)

    def _read(self, results: list[Any], out: Outgoing, peers: list[str], now_ms: int) -> Incoming:
        benches_raw: dict[bytes, bytes] = results[-1]
        position = (3 if out.inflight else 1) + 2
        members: list[tuple[bytes, float]] = results[position]
        # Peers whose in-flight counts are live; replicas counted for shares of limits over a
        # longer window, so one that missed a few syncs under load still counts.
        self._peers = [m.decode() for m, seen in members if seen >= now_ms - self._stale_ms]
        replicas = max(1, len(members))
        position += 1
        peer_inflight: dict[str, int] = {}
        for counts in results[position : position + len(peers)]:
            for url, value in counts.items():
                peer_inflight[url.decode()] = peer_inflight.get(url.decode(), 0) + int(value)
        position += len(peers) + len(out.spend)
        spend: dict[str, tuple[int, int]] = {}
        for app, (day, month) in zip(
            out.budget_apps, results[position : position + len(out.budget_apps)], strict=True
        ):
            spend[app] = (int(day or 0), int(month or 0))
        benches: list[Bench] = []
        self._expired = []
        for name, until_ms in benches_raw.items():
            field = name.decode()
            kind, _, key = field.partition("|")
            if int(until_ms) > now_ms:
                benches.append(Bench(kind, key, int(until_ms) / 1000))
            elif int(until_ms) < now_ms - 60_000:
                self._expired.append(field)
        return Incoming(
            peer_inflight=peer_inflight,
            spend=spend,
            benches=tuple(benches),
            replicas=replicas,
        )

    async def close(self) -> None:
        await self._bells.close()
        await self._r.aclose()
        if self._closing is not None:
            await self._closing()

    async def put_document(
        self, key: str, value: bytes, ttl_s: float, *, expected: int = ANY_VERSION
    ) -> int | None:
        ttl_ms = max(1, math.ceil(ttl_s * 1000))
        keys = [f"{self._prefix}:doc:{key}"]
        written = await self._bounded(self._put_doc(keys=keys, args=[expected, value, ttl_ms]))
        return int(written) or None

    async def get_document(self, key: str) -> Document | None:
        return _document(await self._bounded(self._get_doc(keys=[f"{self._prefix}:doc:{key}"])))

    async def delete_document(self, key: str, *, expected: int = ANY_VERSION) -> bool:
        full = f"{self._prefix}:doc:{key}"
        if expected == ANY_VERSION:
            gone: int = await self._bounded(self._r.delete(full))
        else:
            gone = await self._bounded(self._drop_doc(keys=[full], args=[expected]))
        return int(gone) > 0

    async def put_then_get(
        self, key: str, value: bytes, ttl_s: float, *, expected: int, then: str
    ) -> tuple[int | None, Document | None]:
        ttl_ms = max(1, math.ceil(ttl_s * 1000))
        keys = [f"{self._prefix}:doc:{key}", f"{self._prefix}:doc:{then}"]
        written, found = await self._bounded(
            self._put_then_get(keys=keys, args=[expected, value, ttl_ms])
        )
        return int(written) or None, _document(found)

    async def append_log(self, key: str, entries: Sequence[bytes], ttl_s: float) -> int:
        full = f"{self._prefix}:log:{key}"
        ttl_ms = max(1, math.ceil(ttl_s * 1000))
        args: list[bytes | str | int] = [ttl_ms, self._bells.channel(key), *entries]
        return int(await self._bounded(self._append_log(keys=[full], args=args)))

    async def ring_log(self, key: str) -> None:
        await self._bounded(self._r.publish(self._bells.channel(key), 0))

    def watch_log(self, key: str) -> AbstractAsyncContextManager[Bell]:
        return self._bells.watch(key)

    async def tell(self, topic: str, message: bytes) -> int:
        return int(await self._bounded(self._r.publish(self._bells.topic(topic), message)))

    def listen(self, topic: str, listener: Callable[[bytes], None]) -> None:
        self._bells.listen(topic, listener)

    async def read_log(self, key: str, start: int, count: int) -> list[bytes]:
        first = max(0, start)
        found = await self._bounded(
            self._r.lrange(f"{self._prefix}:log:{key}", first, first + count - 1)
        )
        return [e.encode() if isinstance(e, str) else e for e in found]

    async def delete_log(self, key: str) -> bool:
        return int(await self._bounded(self._r.delete(f"{self._prefix}:log:{key}"))) > 0

    def _window_key(self, name: str, index: int) -> str:
        # The braces are a Redis Cluster hash tag: both windows of a limit live in one slot.
        return f"{self._prefix}:rl:{{{name}}}:{index}"

    def _spend_key(self, app: str, period: str) -> str:
        return f"{self._prefix}:spend:{{{app}}}:{period}"

    async def _bounded(self, call: Awaitable[T]) -> T:
        try:
            # asyncio.timeout, not wait_for: in Python 3.11 wait_for can swallow a cancel that
            # comes as the call ends (a client leaving), and the caller would go on.
            async with asyncio.timeout(self._timeout):
                return await call
        except (RedisError, OSError, TimeoutError) as err:
            if isinstance(err, RedisConnectionError | OSError):
                # The server went away: the connections idle in the pool are dead too, and once
                # it is back each would fail one call (the store would flap down again). Drop
                # them; the next calls connect afresh.
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    async with asyncio.timeout(self._timeout):
                        await self._r.connection_pool.disconnect(inuse_connections=False)
            raise StoreFailed(self._scrub(f"{type(err).__name__}: {err}")) from err

    def _scrub(self, message: str) -> str:
        if self._secret:
            message = message.replace(self._secret, "***")
        return message or "no answer"


def _document(found: Any) -> Document | None:
    """A document as the ``GET_DOC`` script answers it (version, value), or None."""
    if not found or found[1] is None:
        return None
    version, value = found
    return Document(value.encode() if isinstance(value, str) else value, int(version))
