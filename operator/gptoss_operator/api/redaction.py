"""What the status and Events of a GptOssDeployment must never quote (pure).

Messages that quote text the operator does not write itself (a container's last log line, vLLM's
parser refusing ``spec.serving.extraArgs``, the API server refusing a child) can carry a
credential: ``--api-key sk-...`` in extraArgs, a Hugging Face token in a log line. Status and
Events are readable by far more people than the Secrets such values come from, so each secret-
shaped string is written as ``***``.
"""

from __future__ import annotations

import re

__all__ = ["redacted"]

# Bearer credentials and the key formats of the hubs and providers vLLM pods talk to (Hugging
# Face hf_, OpenAI sk-, Groq gsk_, Fireworks fw_) go whole.
_SECRET_SHAPES = re.compile(r"(?i)\bbearer\s+\S+|\b(?:hf_|sk-|gsk_|fw_)[A-Za-z0-9_\-]{8,}")
# The credentials of a URL (``https://user:password@host``) go, its scheme and host stay.
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
# The value of a ``key=value`` pair or of a flag whose name ends in one of these words goes, its
# name stays: ``token=***``, ``--api-key ***``, ``--hf-token=***`` (and the punctuation that ends
# a sentence after it).
_WORD = r"(?:token|api[_-]?key|password|secret)"
_SECRET_VALUE = re.compile(
    rf"(?i)((?:--[\w-]*?)?{_WORD}=|--[\w-]*?{_WORD}\s+(?=[^-\s]))[^\s&'\"]*[^\s&'\";,.]"
)


def redacted(text: str) -> str:
    """``text`` with each secret-shaped string replaced by ``***``."""
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    return _SECRET_SHAPES.sub("***", _SECRET_VALUE.sub(r"\1***", text))
