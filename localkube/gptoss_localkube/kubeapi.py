"""The few API calls the local cluster makes of itself: readiness, nodes, service accounts.

A thin synchronous seam over httpx; everything richer (tests, the operator) uses real clients.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

__all__ = ["ApiClient", "NotReadyInTime", "wait_until"]

T = TypeVar("T")


class NotReadyInTime(TimeoutError):
    """A condition the cluster should reach did not hold before its deadline."""


def wait_until(
    what: str,
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.1,
    check: Callable[[], None] | None = None,
) -> T:
    """Poll ``probe`` until it returns a value other than None/False, or fail after ``timeout``.

    ``check`` runs between polls (e.g. to fail fast when a process died).
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        if check is not None:
            check()
        try:
            value = probe()
            if value is not None and value is not False:
                return value
        except (httpx.HTTPError, OSError) as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise NotReadyInTime(f"{what} not within {timeout:.0f}s{detail}")
        time.sleep(interval)


class ApiClient:
    """A bearer-token client for one API server, verifying it against the cluster CA."""

    def __init__(self, server: str, *, token: str, ca_file: Path) -> None:
        context = ssl.create_default_context(cafile=str(ca_file))
        self._http = httpx.Client(
            base_url=server,
            headers={"Authorization": f"Bearer {token}"},
            verify=context,
            timeout=httpx.Timeout(10.0),
        )

    def close(self) -> None:
        self._http.close()

    def readyz(self) -> bool:
        return self._http.get("/readyz").status_code == 200

    def get(self, path: str) -> dict[str, Any] | None:
        response = self._http.get(path)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def create(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(path, json=obj)
        if response.status_code == 409:
            existing = self.get(f"{path}/{obj['metadata']['name']}")
            assert existing is not None
            return existing
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any] | None:
        """JSON merge-patch ``path``; None if the object is gone."""
        response = self._http.patch(
            path, json=patch, headers={"Content-Type": "application/merge-patch+json"}
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def delete(self, path: str, *, grace_period: int | None = None) -> None:
        """Delete ``path`` (gone already is fine)."""
        body = {} if grace_period is None else {"gracePeriodSeconds": grace_period}
        response = self._http.request("DELETE", path, json=body)
        if response.status_code != 404:
            response.raise_for_status()

    def pods(self) -> list[dict[str, Any]]:
        body = self.get("/api/v1/pods")
        return list((body or {}).get("items", []))

    def nodes(self) -> list[dict[str, Any]]:
        body = self.get("/api/v1/nodes")
        return list((body or {}).get("items", []))


def node_is_ready(node: dict[str, Any]) -> bool:
    """Ready condition True and no not-ready/unreachable taint left by the node controller."""
    conditions = node.get("status", {}).get("conditions", [])
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    taints = node.get("spec", {}).get("taints", []) or []
    blocked = any(t.get("key", "").startswith("node.kubernetes.io/") for t in taints)
    return ready and not blocked
