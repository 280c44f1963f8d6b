"""vLLM's own interface as data: the ``vllm serve`` command line and the protocol's field sets.

Dumped from vLLM's parser and pydantic models by ``vllmspec/dump.py`` (run where vLLM is
installed) and committed per vLLM version, so the operator and the simulator check against what
vLLM really accepts without vLLM installed.

>>> cli = load_cli()                      # PINNED_VERSION
>>> cli.parse(["openai/gpt-oss-120b", "--max_num_seqs", "8"]).get("--max-num-seqs")
'8'
"""

from gptoss_vllmspec.cli import Parsed, ParsedValue, ServeCli, load_cli
from gptoss_vllmspec.errors import UsageError
from gptoss_vllmspec.protocol import (
    Protocol,
    ProtocolModel,
    load_protocol,
    load_protocol_data,
    responses_stream_event_types,
)
from gptoss_vllmspec.spec import OptionSpec, available_versions
from gptoss_vllmspec.versions import NEWEST_VERSION, PINNED_VERSION

__all__ = [
    "NEWEST_VERSION",
    "PINNED_VERSION",
    "OptionSpec",
    "Parsed",
    "ParsedValue",
    "Protocol",
    "ProtocolModel",
    "ServeCli",
    "UsageError",
    "available_versions",
    "load_cli",
    "load_protocol",
    "load_protocol_data",
    "responses_stream_event_types",
]
