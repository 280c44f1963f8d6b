"""``vllm serve``'s command line, checked the way vLLM checks it: ``ServeCli.parse``.

The flow is vLLM's ``vllm`` entry point (``vllm/entrypoints/cli/main.py``): the top-level
``FlexibleArgumentParser.parse_args`` rewrites the tokens (``preprocess``), the ``serve``
subparser parses them (``argparser``), and what it did not recognise is refused by the top-level
``vllm`` parser as "unrecognized arguments" (with, in 0.32, the ``--task`` hint of
``FlexibleArgumentParser.error`` in ``vllm/utils/argparse_utils.py``).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from gptoss_vllmspec.argparser import Refusal, Value, build_parser
from gptoss_vllmspec.errors import UsageError
from gptoss_vllmspec.preprocess import Preprocessed, preprocess
from gptoss_vllmspec.spec import CliSpec, OptionSpec, load_cli_spec
from gptoss_vllmspec.versions import PINNED_VERSION

ParsedValue = str | bool | list[str]

# vllm/utils/argparse_utils.py (0.32.0), FlexibleArgumentParser.error.
_TASK_HINT = (
    "\n\nHint: --task is not a vllm serve option. "
    "For embedding, reranking, or reward models, use "
    "--runner pooling. To adapt a generative model for pooling, "
    "also use --convert embed, --convert classify, or "
    "--convert reward."
)


@dataclass(frozen=True)
class Parsed:
    """A command line vLLM accepts: the model, and each option given, by its canonical flag."""

    model: str | None
    values: Mapping[str, ParsedValue]
    _aliases: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def get(self, flag: str) -> ParsedValue | None:
        """The value given for ``flag`` (any spelling vLLM knows, ``--no-x`` gives ``--x``'s)."""
        canonical = self._aliases.get(_normal(flag), flag)
        return self.values.get(canonical)


def _normal(flag: str) -> str:
    flag = flag.split("=", 1)[0]
    if flag.startswith("--"):
        head, dot, tail = flag.partition(".")
        return head.replace("_", "-") + dot + tail
    return flag


def _raw(value: object) -> ParsedValue:
    if isinstance(value, bool):
        return value
    if isinstance(value, Value):
        return value.raw
    if isinstance(value, list):
        flat: list[str] = []
        for item in value:
            raw = _raw(item)
            flat.extend(raw if isinstance(raw, list) else [str(raw)])
        return flat
    return str(value)


class ServeCli:
    """The ``vllm serve`` command line of one vLLM version."""

    def __init__(self, spec: CliSpec) -> None:
        self.spec = spec
        self.version = spec.version
        self._parser, self._by_dest = build_parser(spec)
        self._aliases: dict[str, str] = {}
        for option in spec.options:
            for spelling in option.option_strings:
                self._aliases[spelling] = option.canonical
        self.options: Mapping[str, OptionSpec] = MappingProxyType(
            {o.canonical: o for o in spec.options}
        )

    def knows(self, flag: str) -> bool:
        """Whether ``flag`` is one of vLLM's spellings (underscores as dashes; no prefixes)."""
        normal = _normal(flag)
        return normal in self._aliases or normal.split(".", 1)[0] in self._aliases

    def option(self, flag: str) -> OptionSpec | None:
        """The option ``flag`` names, by any of its spellings."""
        canonical = self._aliases.get(_normal(flag).split(".", 1)[0])
        return None if canonical is None else self.options[canonical]

    def registered(self, registry: str) -> frozenset[str]:
        """Names vLLM checks only after parsing, when it starts: ``"tool_call_parsers"``
        (``--tool-call-parser``), ``"reasoning_parsers"`` (``--reasoning-parser``) and
        ``"attention_backends"`` (``--attention-backend``), as registered in this version."""
        return self.spec.registries[registry]

    def parse(self, argv: list[str] | tuple[str, ...]) -> Parsed:
        """Parse what follows ``vllm serve``; raise ``UsageError`` where vLLM would refuse."""
        pre = preprocess(list(argv), self.spec.features)
        try:
            namespace, extras = self._parser.parse_known_args(pre.args)
        except argparse.ArgumentError as err:
            raise UsageError(str(err), flag=self._flag_of_action(err, pre)) from None
        except Refusal as refusal:
            raise self._refused(refusal, pre) from None
        if extras:
            message = "unrecognized arguments: " + " ".join(extras)
            if pre.task_hint and re.search(r"(^|\s)--task(=|\s|$)", message):
                message += _TASK_HINT
            flag = next((e for e in extras if e.startswith("-")), None)
            raise UsageError(message, flag=self._origin(flag, pre), prog=self.spec.top_prog)
        values: dict[str, ParsedValue] = {}
        model: str | None = None
        for dest, value in vars(namespace).items():
            option = self._by_dest.get(dest)
            if option is None:
                model = None if value is None else str(_raw(value))
            else:
                values[option.canonical] = _raw(value)
        return Parsed(model=model, values=MappingProxyType(values), _aliases=self._aliases)

    def usage_error_text(self, error: UsageError) -> str:
        """What vLLM prints to stderr when it refuses the command line this way."""
        if error.prog is None:
            return f"{error}\n"
        usage = self.spec.top_usage if error.prog == self.spec.top_prog else self.spec.usage
        return f"{usage}{error.prog}: error: {error}\n"

    def _refused(self, refusal: Refusal, pre: Preprocessed) -> UsageError:
        if refusal.exit_code != 2:
            return UsageError(refusal.message, prog=None, exit_code=refusal.exit_code)
        match = re.match(r"ambiguous option: (.+?)(=\S*)? could match", refusal.message)
        if match:
            return UsageError(refusal.message, flag=self._origin(match.group(1), pre))
        match = re.search(r"for (--[\w-]+)", refusal.message)
        return UsageError(refusal.message, flag=match.group(1) if match else refusal.flag)

    def _flag_of_action(self, err: argparse.ArgumentError, pre: Preprocessed) -> str | None:
        name = err.argument_name
        option = next((o for o in self.spec.options if "/".join(o.option_strings) == name), None)
        if option is None:
            return name
        spellings = set(option.option_strings)
        for arg, origin in zip(pre.args, pre.origins, strict=True):
            if arg.startswith("-") and self._resolve(arg.split("=", 1)[0]) in spellings:
                return origin.split("=", 1)[0]
        return option.canonical

    def _resolve(self, token: str) -> str | None:
        """The spelling argparse takes ``token`` for: itself, or the one flag it is a prefix of."""
        if token in self._aliases:
            return token
        if not (token.startswith("--") and self.spec.allow_abbrev):
            return None
        matches = [s for s in self._aliases if s.startswith(token)]
        return matches[0] if len(matches) == 1 else None

    @staticmethod
    def _origin(token: str | None, pre: Preprocessed) -> str | None:
        if token is None:
            return None
        for arg, origin in zip(pre.args, pre.origins, strict=True):
            if arg == token or arg.split("=", 1)[0] == token:
                return origin.split("=", 1)[0] if origin.startswith("-") else origin
        return token


_CACHE: dict[str, ServeCli] = {}


def load_cli(version: str | None = None) -> ServeCli:
    """The ``vllm serve`` command line of ``version`` (default: the version gptoss pins)."""
    version = version or PINNED_VERSION
    if version not in _CACHE:
        _CACHE[version] = ServeCli(load_cli_spec(version))
    return _CACHE[version]
