"""The operator's own errors. Callers catch these; the Kopf wiring alone translates them.

Tree::

    GptOssError
     ├── CatalogError     a model or GPU product the operator does not know
     ├── SizingError      the model cannot be placed on the GPUs asked for; the message says
     │    │               how much memory is needed, how much there is, and what to change
     │    └── NoNodeLargeEnough  it fits its GPUs, but no node of the product has that many
     ├── InvalidSpec      a spec the API server accepted but the operator cannot read
     └── KubeError        a Kubernetes API call failed (raised by ``kube`` only)
          ├── KubeUnavailable  unreachable, 5xx or 429: retry later
          ├── KubeConflict     another writer won a race (409): retry soon
          └── KubeRejected     refused (another 4xx): retrying will not help
"""

from __future__ import annotations

__all__ = [
    "CatalogError",
    "GptOssError",
    "InvalidSpec",
    "KubeConflict",
    "KubeError",
    "KubeRejected",
    "KubeUnavailable",
    "NoNodeLargeEnough",
    "SizingError",
]


class GptOssError(Exception):
    """The root of every error the operator raises on purpose."""


class CatalogError(GptOssError, LookupError):
    """A model or GPU product name that is not in the catalog."""


class SizingError(GptOssError, ValueError):
    """A placement that cannot hold the model's weights and one full-length sequence."""


class NoNodeLargeEnough(SizingError):
    """A replica that fits its GPUs but needs more of them than any node of the product has."""


class InvalidSpec(GptOssError, ValueError):
    """A GptOssDeployment spec that does not parse (the CRD schema should prevent this)."""


class InvalidAdapters(InvalidSpec):
    """A served name or LoRA adapter settings vLLM or the router cannot serve as given."""


class KubeError(GptOssError):
    """A call to the Kubernetes API failed."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class KubeUnavailable(KubeError):
    """The API server was unreachable, overloaded or failing; the call may succeed later."""


class KubeConflict(KubeError):
    """The object changed underneath the call (409 Conflict)."""


class KubeRejected(KubeError):
    """The API server refused the call (a 4xx other than 409 and 429)."""
