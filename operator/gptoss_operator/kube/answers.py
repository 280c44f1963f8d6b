"""The client's answers as the operator's: plain dicts, request paths, and its errors.

The dynamic client answers with ``ResourceInstance`` objects and raises its own, the API
client's and urllib3's exceptions; callers of :class:`~gptoss_operator.kube.client.Kube` see
the plain dict the server sent, and :mod:`gptoss_operator.errors` types (the status decides
which: 409 is a conflict, 0, 429 and 5xx are the server being unavailable, anything else a
rejection) whose message names the method and path and keeps the server's own message. Client
errors become the operator's here and nowhere else.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import Resource
from kubernetes.dynamic.exceptions import ResourceNotFoundError, ResourceNotUniqueError
from urllib3.exceptions import HTTPError as TransportError

from gptoss_operator.errors import KubeConflict, KubeError, KubeRejected, KubeUnavailable

__all__ = ["answers", "as_dict", "path_of"]


def path_of(resource: Resource, namespace: str | None, name: str | None = None) -> str:
    """The request's path, for error messages."""
    return str(resource.path(name=name, namespace=namespace))  # type: ignore[no-untyped-call]


def as_dict(answer: Any) -> dict[str, Any]:
    """A dynamic client's answer (a ``ResourceInstance``) as the plain dict the server sent."""
    found: dict[str, Any] = answer.to_dict()
    return found


@contextlib.contextmanager
def answers(method: str, path: str) -> Iterator[None]:
    """Turn the client's errors of the block into the operator's."""
    try:
        yield
    except ResourceNotFoundError as exc:
        raise KubeRejected(
            f"{method} {path}: 404 not served by the API server", status=404
        ) from exc
    except ResourceNotUniqueError as exc:
        raise KubeRejected(f"{method} {path}: {exc}") from exc
    except ApiException as exc:
        raise _translate(int(exc.status or 0), str(exc.reason), exc.body, method, path) from exc
    except TransportError as exc:
        raise KubeUnavailable(f"{method} {path}: {exc}") from exc


def _translate(status: int, reason: str, body: Any, method: str, path: str) -> KubeError:
    """The operator's error for an API answer of ``status``; the body's message is kept."""
    detail = f"{method} {path}: {status} {reason}"
    if status == 409:
        return KubeConflict(f"{detail}: {_message(body)}", status=status)
    if status in (0, 429) or status >= 500:
        return KubeUnavailable(detail, status=status)
    return KubeRejected(f"{detail}: {_message(body)}", status=status)


def _message(body: Any) -> str:
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    try:
        return str(json.loads(text or "{}").get("message", text))
    except ValueError:
        return text
