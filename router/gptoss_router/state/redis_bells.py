"""The bells of logs kept in Redis (``bells.py``), rung through Redis pub/sub.

Each append to a log publishes on the log's channel (``RedisStore.append_log``, in the same
script as the entries), and a router subscribes to the channel of each log one of its replays
follows, on one pub/sub connection of its own, while that replay runs. One task, the reader,
does everything on that connection: it connects, subscribes and unsubscribes as replays come
and go (a replay only registers its bell, which does no I/O and cannot fail), reads, and rings
the bells of a channel at each message, and also when a subscription is confirmed: an append
made before it took effect is then read too. It stops once no replay follows anything, and the
next replay starts it again. It also carries topics, what one replica tells all the others
(``listen``: a background response cancelled on one replica, for the one that runs it), and
then runs as long as the store is open.

Pub/sub is at most once, and some proxies in front of Redis do not carry it. So a ring is only
a hint (the replay reads the log after every wait, rung or not, and waits at most
``tuning.replay_poll_s``), and pub/sub failing costs replays their promptness, never an event:
the failure is logged once (without the password), the connection made again a second later
(then after twice as long each time it fails again, up to ``_RETRY_MAX_S``), its subscriptions
made again and their bells rung, since appends may have gone unheard. A connection that stays
silent is asked for a PING every ``_PING_S``, and made again when none answers by the next: a
connection dropped on the way (a NAT or load balancer's idle timeout) does not leave replays on
their timer for good. A user whose ACL denies the channels (``redis_acl.py``) is refused its
subscriptions; its replays read on their timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import ResponseError

from gptoss_router.state.bells import Bell, Bells

__all__ = ["RedisBells"]

log = logging.getLogger(__name__)

_TURN_S = 0.1  # the reader reads this long at a time, then (un)subscribes what changed
_PING_S = 15.0  # a silent connection is asked for a PING after this long, and given up after two
_RETRY_S = 1.0  # a failed pub/sub connection is made again after this long, then twice as long
_RETRY_MAX_S = 10.0  # each time it fails again, up to this


class RedisBells:
    """One router's subscriptions: to the logs its replays follow, and to its topics."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str,
        timeout_s: float,
        scrub: Callable[[str], str],
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._timeout = timeout_s
        self._scrub = scrub
        self._bells = Bells()
        self._topics: dict[bytes, Callable[[bytes], None]] = {}  # channel -> its listener
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        self._failing = False

    def channel(self, log: str) -> str:
        """The channel on which appends to ``log`` are announced."""
        return f"{self._prefix}:logged:{log}"

    def topic(self, name: str) -> str:
        """The channel of the topic ``name`` (what one replica tells the others)."""
        return f"{self._prefix}:told:{name}"

    def listen(self, name: str, listener: Callable[[bytes], None]) -> None:
        """Call ``listener`` with each message told on the topic ``name``, until ``close``
        (at most once each, as pub/sub delivers them: not while the connection is down)."""
        self._topics[self.topic(name).encode()] = listener
        self._start()

    @contextlib.asynccontextmanager
    async def watch(self, log: str) -> AsyncIterator[Bell]:
        """A bell rung when ``log`` is appended to, while the block runs."""
        bell, _ = self._bells.add(log)
        try:
            self._start()
            yield bell
        finally:
            self._bells.remove(log, bell)  # the reader leaves the channel at its next turn

    async def close(self) -> None:
        """Stop the reader, which gives its connection back; no replay starts it again."""
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.wait([self._reader])

    def _start(self) -> None:
        if not self._closed and (self._reader is None or self._reader.done()):
            self._reader = asyncio.create_task(self._read(), name="gptoss-log-bells")

    def _changes(self) -> int:
        return self._bells.changes + len(self._topics)  # topics are only ever added

    async def _read(self) -> None:
        """Follow the wanted channels until none is wanted, each time on a new connection."""
        while True:
            pubsub = self._client.pubsub()
            try:
                await self._serve(pubsub)
            finally:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(self._timeout):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
            # No await between this check and the task's end: a replay that comes after it
            # finds the reader done and starts another.
            if self._closed or not (self._bells.logs() or self._topics):
                return

    async def _serve(self, pubsub: PubSub) -> None:
        retry_s = _RETRY_S
        seen = -1  # the bells' changes the subscriptions were last mended for
        loop = asyncio.get_running_loop()
        heard_at = loop.time()
        pinged = False
        while True:
            try:
                if pubsub.connection is None or not pubsub.connection.is_connected:
                    # connecting again subscribes again to what it had (the replies ring)
                    async with asyncio.timeout(self._timeout):
                        await pubsub.connect()  # type: ignore[no-untyped-call]
                    seen, heard_at, pinged = -1, loop.time(), False
                if seen != self._changes():
                    seen = self._changes()
                    if not await self._mend(pubsub):
                        return
                message = await pubsub.get_message(timeout=_TURN_S)
                if message is None and loop.time() - heard_at >= _PING_S:
                    if pinged:
                        raise TimeoutError(f"no answer to a PING for {_PING_S:g} s")
                    async with asyncio.timeout(self._timeout):
                        await pubsub.ping()
                    heard_at, pinged = loop.time(), True
            except asyncio.CancelledError:
                raise
            except Exception as err:  # the plumbing failing costs only promptness
                self._failed(err)
                # A refusal (an ACL without the channels) leaves the connection sound; anything
                # else may have broken it: the next turn connects afresh.
                if not isinstance(err, ResponseError) and pubsub.connection is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.connection.disconnect(nowait=True)
                await asyncio.sleep(retry_s)
                retry_s = min(2 * retry_s, _RETRY_MAX_S)
                continue
            retry_s = _RETRY_S
            if message is not None:
                heard_at, pinged = loop.time(), False
                self._heard(message)

    async def _mend(self, pubsub: PubSub) -> bool:
        """Subscribe to the followed logs not yet subscribed, leave those no longer followed;
        whether any is still followed."""
        wanted = {self.channel(name).encode() for name in self._bells.logs()} | set(self._topics)
        have = set(pubsub.channels) - set(pubsub.pending_unsubscribe_channels)
        if wanted - have:
            async with asyncio.timeout(self._timeout):
                await pubsub.subscribe(*(wanted - have))
        if have - wanted:
            async with asyncio.timeout(self._timeout):
                await pubsub.unsubscribe(*(have - wanted))
        return bool(wanted)

    def _heard(self, message: dict[str, Any]) -> None:
        if self._failing:
            self._failing = False
            log.info("log bells: the store's pub/sub answers again")
        if message.get("type") not in ("message", "subscribe"):
            return
        raw = message.get("channel")
        channel = raw if isinstance(raw, bytes) else str(raw).encode()
        listener = self._topics.get(channel)
        if listener is not None:
            if message.get("type") == "message":
                data = message.get("data")
                try:
                    listener(data if isinstance(data, bytes) else str(data).encode())
                except Exception:  # a listener's fault must not stop the bells
                    log.exception("the listener of %s failed", channel.decode())
            return
        name = channel.decode()
        head = self.channel("")
        if name.startswith(head):
            self._bells.ring(name[len(head) :])

    def _failed(self, err: BaseException) -> None:
        if not self._failing:
            self._failing = True
            log.warning(
                "log bells: the store's pub/sub failed, replays read the store on their timer: %s",
                self._scrub(f"{type(err).__name__}: {err}"),
            )
