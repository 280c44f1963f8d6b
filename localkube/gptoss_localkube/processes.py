"""Start, track and stop the control plane's processes.

Each process runs in its own session (so a Ctrl-C in the terminal reaches only the supervisor,
which then stops its children in order), writes to its own log file, and is remembered until it
has exited. ``stop_all`` ends them in reverse start order: SIGTERM, a grace period, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ProcessExited", "Supervisor"]


class ProcessExited(RuntimeError):
    """A supervised process ended while it was expected to run."""

    def __init__(self, name: str, code: int, log: Path) -> None:
        tail = _tail(log)
        super().__init__(f"{name} exited with status {code}; last lines of {log}:\n{tail}")
        self.name = name
        self.code = code


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class _Child:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    argv: list[str]
    env: dict[str, str] | None


@dataclass
class Supervisor:
    """Owns every process it started; nothing it started outlives ``stop_all``."""

    log_dir: Path
    children: list[_Child] = field(default_factory=list)

    def start(self, name: str, argv: list[str], *, env: dict[str, str] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        self.children.append(_Child(name, popen, log, argv, env))

    def check(self) -> None:
        """Raise ProcessExited if any supervised process has ended."""
        for child in self.children:
            code = child.popen.poll()
            if code is not None:
                raise ProcessExited(child.name, code, child.log)

    def exit_code(self, name: str) -> int | None:
        """The exit status of ``name`` if it has ended, else None (also for unknown names)."""
        child = next((c for c in self.children if c.name == name), None)
        return None if child is None else child.popen.poll()

    def pids(self) -> dict[str, int]:
        return {child.name: child.popen.pid for child in self.children}

    def log_of(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def stop(self, name: str, *, grace: float = 10.0) -> None:
        for child in [c for c in self.children if c.name == name]:
            _terminate(child, grace)
            self.children.remove(child)

    def restart(self, name: str, *, grace: float = 10.0, kill: bool = False) -> None:
        """Stop ``name`` (SIGKILL at once with ``kill``) and start it again as it was started."""
        child = next(c for c in self.children if c.name == name)
        self.children.remove(child)
        _terminate(child, 0.0 if kill else grace)
        self.start(name, child.argv, env=child.env)

    def stop_all(self, *, grace: float = 10.0) -> None:
        while self.children:
            _terminate(self.children.pop(), grace)


def _terminate(child: _Child, grace: float) -> None:
    popen = child.popen
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while popen.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=0.1)
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
    # Anything left in the process group (children of the child) goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)
