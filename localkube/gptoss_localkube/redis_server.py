"""A real Redis server on loopback for the router's shared-state tests and the demo.

``ensure_redis()`` runs ``localkube/install-redis.sh`` once per process (Debian's redis-server,
unpacked into ``~/.cache/gptoss/redis-<version>/``, never installed system-wide) and returns the
path of the ``redis-server`` binary. ``RedisServer`` runs that binary on a free loopback port with a
password and, by default, no persistence, in a temporary directory of its own; fault tests kill it
(SIGKILL) and start it again on the same port with the same password::

    with RedisServer() as redis:
        client = Redis.from_url(redis.url, password=redis.password)
        redis.kill()   # connections drop at once, nothing is saved
        redis.start()  # the same host, port and password, an empty dataset

Readiness is checked with a raw ``AUTH`` + ``PING`` over a socket, polled until a deadline.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from gptoss_localkube.net import free_port

__all__ = ["RedisNotReady", "RedisServer", "ensure_redis"]

LOCALKUBE_DIR = Path(__file__).resolve().parent.parent
INSTALL_SCRIPT = LOCALKUBE_DIR / "install-redis.sh"


class RedisNotReady(RuntimeError):
    """The server exited or did not answer PING before its deadline."""


@functools.cache
def ensure_redis() -> Path:
    """The path of a real ``redis-server`` binary, installed on first use (seconds) and cached.

    Raises CalledProcessError if the install script fails (its reasons are on stderr)."""
    result = subprocess.run(
        ["bash", str(INSTALL_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True
    )
    return Path(result.stdout.strip().splitlines()[-1])


def _command(*words: str) -> bytes:
    """One Redis command in RESP (an array of bulk strings)."""
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _quoted(value: str) -> str:
    """``value`` as a double-quoted string of redis.conf (which reads backslash escapes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pings(host: str, port: int, password: str, timeout: float) -> bool:
    """Whether the server accepts ``password`` and answers PING with PONG now (not LOADING)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_command("AUTH", password) + _command("PING"))
            reply = b""
            while reply.count(b"\r\n") < 2:
                chunk = sock.recv(256)
                if not chunk:
                    return False
                reply += chunk
    except OSError:
        return False
    return reply == b"+OK\r\n+PONG\r\n"


class RedisServer:
    """A redis-server process on ``host:port`` with ``requirepass``, restartable in place.

    ``port=None`` picks a free loopback port once; restarts keep it. ``persistence=True`` turns on
    the append-only file (fsync on every write) in the server's directory, so that a restart after
    ``kill()`` finds the data again; by default nothing is saved (``save ''``, ``appendonly no``).
    The server's log is ``log_path``; the directory is removed by ``close()`` / leaving the
    ``with`` block, which also stops the server.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        password: str | None = None,
        host: str = "127.0.0.1",
        binary: Path | None = None,
        persistence: bool = False,
        ready_timeout: float = 10.0,
        extra_config: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.password = password if password is not None else secrets.token_urlsafe(24)
        self.binary = binary
        self.persistence = persistence
        self.ready_timeout = ready_timeout
        self.extra_config = dict(extra_config or {})
        self.directory = Path(tempfile.mkdtemp(prefix="gptoss-redis-"))
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://host:port/0``, without the password (pass ``password`` separately)."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    @property
    def pid(self) -> int | None:
        popen = self._popen
        return popen.pid if popen is not None and popen.poll() is None else None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def ping(self, timeout: float = 1.0) -> bool:
        """Whether the server answers an authenticated PING now."""
        return _pings(self.host, self.port, self.password, timeout)

    def start(self) -> None:
        """Start the server (again, on the same port with the same password) and wait until it
        answers PING; raises RedisNotReady (with the log's tail) if it exits or times out."""
        if self.running:
            return
        binary = self.binary or ensure_redis()
        config = self._write_config()
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                self._argv(binary, config),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,
            )
        self._wait_ready()

    def kill(self) -> None:
        """SIGKILL the server and reap it: clients see their connections reset, nothing is saved."""
        self._signal(signal.SIGKILL, grace=10.0)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL if it has not exited after ``grace`` seconds."""
        self._signal(signal.SIGTERM, grace=grace)
        if self.running:
            self.kill()

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"RedisServer({self.url}, {state})"

    def _argv(self, binary: Path, config: Path) -> list[str]:
        """The server's command line."""
        return [str(binary), str(config)]

    def _write_config(self) -> Path:
        settings = {
            "bind": self.host,
            "port": str(self.port),
            "requirepass": _quoted(self.password),
            "protected-mode": "yes",
            "daemonize": "no",
            "dir": str(self.directory),
            "logfile": '""',  # stdout, which goes to log_path
            "save": '""',
            "appendonly": "yes" if self.persistence else "no",
            "appendfsync": "always",
            **self.extra_config,
        }
        path = self.directory / "redis.conf"
        path.write_text("".join(f"{key} {value}\n" for key, value in settings.items()))
        path.chmod(0o600)
        return path

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            assert self._popen is not None
            code = self._popen.poll()
            if code is not None:
                raise RedisNotReady(f"redis-server exited with status {code}:\n{self._tail()}")
            if self.ping(timeout=0.5):
                return
            if time.monotonic() > deadline:
                self.kill()
                raise RedisNotReady(
                    f"redis-server did not answer PING on {self.host}:{self.port} within "
                    f"{self.ready_timeout:g}s:\n{self._tail()}"
                )
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=0.02)  # returns at once if it exits meanwhile

    def _signal(self, signum: signal.Signals, *, grace: float) -> None:
        popen = self._popen
        if popen is None or popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(popen.pid, signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=grace)

    def _tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
