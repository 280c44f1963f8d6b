"""The bells of logs kept in Redis (``bells.py``), rung through Redis pub/sub.

Each append to a log publishes on the log's channel (``RedisStore.append_log``, in the same
transaction as the entries), and a router subscribes to the channel of each log one of its
replays follows, on one pub/sub connection of its own, while that replay runs. A task reads the
connection and rings the bells of a channel at each message, and also when a subscription is
confirmed: an append made before it took effect is then read too.

Pub/sub is at most once, and some proxies in front of Redis do not carry it. So a ring is only
a hint (the replay reads the log after every wait, rung or not, and waits at most
``tuning.replay_poll_s``), and pub/sub failing costs replays their promptness, never an event:
the failure is logged once (without the password), the connection made again a second later
(then after twice as long each time it fails again, up to a minute), its subscriptions made
again and their bells rung, since appends may have gone unheard. A user whose ACL denies the
channels (``redis_acl.py``) is refused its subscriptions; its replays read on their timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError, ResponseError

from gptoss_router.state.bells import Bell, Bells

__all__ = ["RedisBells"]

log = logging.getLogger(__name__)

_READ_S = 1.0  # the reader checks its subscriptions at least this often
_RETRY_S = 1.0  # a failed pub/sub connection is made again after this long, then twice as long
_RETRY_MAX_S = 60.0  # each time it fails again, up to this


class RedisBells:
    """One router's subscriptions to the logs its replays follow."""

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
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._failing = False

    def channel(self, log: str) -> str:
        """The channel on which appends to ``log`` are announced."""
        return f"{self._prefix}:logged:{log}"

    @contextlib.asynccontextmanager
    async def watch(self, log: str) -> AsyncIterator[Bell]:
        """A bell rung when ``log`` is appended to, while the block runs."""
        bell, first = self._bells.add(log)
        try:
            if first:
                await self._tell("subscribe", log)
            yield bell
        finally:
            if self._bells.remove(log, bell):
                await self._tell("unsubscribe", log)

    async def close(self) -> None:
        """Stop reading and give the pub/sub connection back."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _tell(self, verb: str, log: str) -> None:
        """Subscribe or unsubscribe at once if the connection is up; otherwise, and if this
        fails, the reader mends it when it connects. Only the reader connects and reads: a
        second task reading (a reconnection's handshake) would steal its replies."""
        if self._pubsub is None:
            self._pubsub = self._client.pubsub()
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(self._pubsub), name="gptoss-log-bells")
        pubsub = self._pubsub
        if pubsub.connection is None or not pubsub.connection.is_connected:
            return
        change = pubsub.subscribe if verb == "subscribe" else pubsub.unsubscribe
        try:
            await asyncio.wait_for(change(self.channel(log)), self._timeout)
        except (RedisError, OSError, TimeoutError) as err:
            self._failed(err)

    async def _read(self, pubsub: PubSub) -> None:
        retry_s = _RETRY_S
        while True:
            try:
                if pubsub.connection is None or not pubsub.connection.is_connected:
                    # connecting again subscribes again to what it had (the replies ring)
                    await asyncio.wait_for(pubsub.connect(), self._timeout)  # type: ignore[no-untyped-call]
                await self._mend(pubsub)
                message = await pubsub.get_message(timeout=_READ_S)
            except (RedisError, OSError, TimeoutError) as err:
                self._failed(err)
                # A refusal (an ACL without the channels) leaves the connection sound; anything
                # else may have broken it: the next turn connects afresh.
                if not isinstance(err, ResponseError) and pubsub.connection is not None:
                    await pubsub.connection.disconnect()
                await asyncio.sleep(retry_s)
                retry_s = min(2 * retry_s, _RETRY_MAX_S)
                continue
            retry_s = _RETRY_S
            if message is not None:
                self._heard(message)

    async def _mend(self, pubsub: PubSub) -> None:
        """Subscribe to the followed logs a failure left out, and leave those no longer
        followed."""
        wanted = {self.channel(name).encode() for name in self._bells.logs()}
        have = set(pubsub.channels) - set(pubsub.pending_unsubscribe_channels)
        if wanted - have:
            await asyncio.wait_for(pubsub.subscribe(*(wanted - have)), self._timeout)
        if have - wanted:
            await asyncio.wait_for(pubsub.unsubscribe(*(have - wanted)), self._timeout)

    def _heard(self, message: dict[str, Any]) -> None:
        if self._failing:
            self._failing = False
            log.info("log bells: the store's pub/sub answers again")
        if message.get("type") not in ("message", "subscribe"):
            return
        channel = message.get("channel")
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
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
