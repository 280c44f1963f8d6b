"""A real Redis Sentinel on loopback, watching a ``RedisServer`` primary, for the router's tests of
a store that fails over.

The same ``redis-server`` binary in sentinel mode (``--sentinel``), with the primary's password for
itself and for the primary (``requirepass``, ``sentinel auth-pass``), a quorum of one and short
timeouts, so that a killed primary's replica is promoted within seconds::

    with RedisServer() as primary, RedisServer(password=primary.password,
            extra_config=replica_of(primary)) as replica, RedisSentinel(primary) as sentinel:
        ...  # sentinel.url, sentinel.master; primary.kill() -> replica promoted
"""

from __future__ import annotations

from pathlib import Path

from gptoss_localkube.redis_server import RedisServer

__all__ = ["MASTER", "RedisSentinel", "replica_of"]

MASTER = "gptoss-store"  # the name the sentinel monitors the primary under


def replica_of(primary: RedisServer) -> dict[str, str]:
    """The ``extra_config`` of a ``RedisServer`` that replicates ``primary``."""
    return {"replicaof": f"{primary.host} {primary.port}", "masterauth": primary.password}


class RedisSentinel(RedisServer):
    """A sentinel monitoring ``primary`` as ``MASTER``; it rewrites its own config file as it
    learns replicas and fails over, as sentinels do."""

    def __init__(self, primary: RedisServer, *, down_after_ms: int = 500) -> None:
        super().__init__(password=primary.password, host=primary.host, binary=primary.binary)
        self.primary = primary
        self.master = MASTER
        self.down_after_ms = down_after_ms

    def _argv(self, binary: Path, config: Path) -> list[str]:
        return [str(binary), str(config), "--sentinel"]

    def _write_config(self) -> Path:
        path = self.directory / "sentinel.conf"
        if path.exists():  # started again: keep what it learned
            return path
        primary, name = self.primary, self.master
        lines = [
            f"bind {self.host}",
            f"port {self.port}",
            f"dir {self.directory}",
            'logfile ""',
            f"requirepass {primary.password}",
            f"sentinel monitor {name} {primary.host} {primary.port} 1",
            f"sentinel auth-pass {name} {primary.password}",
            f"sentinel down-after-milliseconds {name} {self.down_after_ms}",
            f"sentinel failover-timeout {name} {max(2000, 4 * self.down_after_ms)}",
        ]
        path.write_text("".join(f"{line}\n" for line in lines))
        path.chmod(0o600)
        return path
