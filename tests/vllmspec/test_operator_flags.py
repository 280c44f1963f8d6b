"""Every ``vllm serve`` flag the gptoss operator writes is one vLLM knows, in both versions.

The operator's files are found by what they contain (they move between folders): those that
build the vLLM arguments (``vllm_args``) or the per-architecture recipes (``Recipe(``). Every
string constant in them that looks like a flag is taken for one the operator emits.
"""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest

from gptoss_vllmspec import NEWEST_VERSION, PINNED_VERSION, load_cli

OPERATOR = Path(__file__).resolve().parents[2] / "operator" / "gptoss_operator"
_FLAG = re.compile(r"^--?[a-z][a-z0-9_.-]*(=.*)?$")
MODEL = "openai/gpt-oss-120b"


def _vllm_arg_files() -> list[Path]:
    return sorted(
        path
        for path in OPERATOR.rglob("*.py")
        if re.search(r"\bvllm_args\b|\bRecipe\(", path.read_text(encoding="utf-8"))
    )


def _trees() -> list[ast.Module]:
    return [ast.parse(p.read_text(encoding="utf-8")) for p in _vllm_arg_files()]


def operator_flags() -> list[str]:
    flags = {
        node.value.split("=", 1)[0]
        for tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _FLAG.match(node.value)
    }
    return sorted(flags)


def recipe_argvs() -> list[list[str]]:
    """The ``args=(...)`` of each ``Recipe(...)``: complete flag lists, values included."""
    argvs = []
    for tree in _trees():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Recipe"):
                continue
            for keyword in node.keywords:
                if keyword.arg == "args" and isinstance(keyword.value, ast.Tuple):
                    argvs.append([ast.literal_eval(e) for e in keyword.value.elts])
    return argvs


def test_the_operators_vllm_argument_files_are_found() -> None:
    assert len(_vllm_arg_files()) >= 2
    flags = operator_flags()
    for flag in ("--tensor-parallel-size", "--max-model-len", "--served-model-name", "--port"):
        assert flag in flags


@pytest.mark.parametrize("version", [PINNED_VERSION, NEWEST_VERSION])
@pytest.mark.parametrize("flag", operator_flags())
def test_every_flag_the_operator_emits_is_known_to_vllm(version: str, flag: str) -> None:
    assert load_cli(version).knows(flag), f"vLLM {version} has no {flag}"


@pytest.mark.parametrize("version", [PINNED_VERSION, NEWEST_VERSION])
def test_every_recipe_parses_as_vllm_parses_it(version: str) -> None:
    argvs = recipe_argvs()
    assert any(argvs), "no Recipe(args=...) found"
    cli = load_cli(version)
    for argv in argvs:
        parsed = cli.parse([MODEL, *argv])
        assert parsed.model == MODEL


def test_the_pinned_version_is_the_vllm_image_the_operator_deploys() -> None:
    images = {
        match
        for path in OPERATOR.rglob("*.py")
        for match in re.findall(r"vllm/vllm-openai[\w-]*:v([\d.]+)", path.read_text("utf-8"))
    }
    assert images == {PINNED_VERSION}


# What vLLM looks the value of these flags up in, once parsed, when it starts.
_REGISTRY_OF = {
    "--tool-call-parser": "tool_call_parsers",
    "--reasoning-parser": "reasoning_parsers",
    "--attention-backend": "attention_backends",
}


def operator_registry_values() -> list[tuple[str, str]]:
    """(flag, value) pairs the operator writes side by side in a list or tuple literal."""
    pairs = set()
    for tree in _trees():
        for node in ast.walk(tree):
            if not isinstance(node, ast.List | ast.Tuple):
                continue
            items = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
            for flag, value in itertools.pairwise(items):
                if flag in _REGISTRY_OF and isinstance(value, str):
                    pairs.add((flag, value))
    return sorted(pairs)


def test_the_operator_names_parsers_and_backends() -> None:
    assert {flag for flag, _ in operator_registry_values()} == set(_REGISTRY_OF)


@pytest.mark.parametrize("version", [PINNED_VERSION, NEWEST_VERSION])
@pytest.mark.parametrize(("flag", "value"), operator_registry_values())
def test_every_parser_and_backend_the_operator_names_is_registered_in_vllm(
    version: str, flag: str, value: str
) -> None:
    assert value in load_cli(version).registered(_REGISTRY_OF[flag])
