"""The least a Redis user needs to be the router's store: the ACL rules of ``ACL SETUSER``.

Give the router a user of its own rather than the ``default`` user where the Redis (or Valkey)
is shared, or managed with users and roles: these rules let it touch only its own keys
(``<prefix>:*``) and its pub/sub channels (``<prefix>:logged:*`` of its log bells and
``<prefix>:told:*`` of what replicas tell each other, ``redis_bells.py``),
with only the commands ``redis_store.py``, its scripts (``redis_scripts.py``) and its client's
connection handshake run. A user without the channels still works: appends go on (the scripts
publish with ``pcall``), replays on other replicas read the store on their timer, and a
background response cancelled on one replica runs to its end on the one running it (its result
dropped).
"""

from __future__ import annotations

__all__ = ["COMMANDS", "acl_rules"]

# Every command the router sends, or its scripts call (ACLs apply inside scripts too).
COMMANDS = (
    # the connection: redis-py names it (and sends CLIENT SETINFO, whose refusal it ignores;
    # Redis before 7.2 has no such command to allow)
    "ping", "client|setname", "select",
    # scripts: registered ones run by hash and are loaded again after a restart of the store
    "eval", "evalsha", "script|load",
    # sync, limits, documents and logs, and the scripts' own calls
    "get", "set", "mget", "incrby", "del", "type", "pexpire", "expire",
    "hget", "hset", "hmget", "hdel", "hgetall",
    "zadd", "zrange", "zremrangebyscore",
    "llen", "rpush", "lrange",
    # log bells
    "publish", "subscribe", "unsubscribe",
)  # fmt: skip


def acl_rules(prefix: str = "gptoss") -> tuple[str, ...]:
    """The rules, after the user's name and ``>password``, of a router whose
    ``store.key_prefix`` is ``prefix``."""
    return (
        "on",
        "resetkeys",
        f"~{prefix}:*",
        "resetchannels",
        f"&{prefix}:logged:*",
        f"&{prefix}:told:*",
        "-@all",
        *(f"+{command}" for command in COMMANDS),
    )
