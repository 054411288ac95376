"""Reading the Bicep templates offline: pycep's JSON form plus its raw Lark tree.

There is no Bicep compiler here, so the checks a compiler would make first (known
symbols, module paths, module parameters) are made on the parse tree.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lark import Token, Tree
from pycep import BicepParser

REPO = Path(__file__).resolve().parents[2]
BICEP_DIR = REPO / "bicep"
MAIN = BICEP_DIR / "main.bicep"
PARAMS = BICEP_DIR / "main.bicepparam"
MODULES = BICEP_DIR / "modules"
# One name per template, shared by every Bicep test module.
ARCHIVE = MODULES / "archive-storage.bicep"
HOST = MODULES / "host-storage.bicep"
KEYVAULT = MODULES / "keyvault.bicep"
FUNCTION_APP = MODULES / "function-app.bicep"
PEOPLE = MODULES / "people-access.bicep"
MONITORING = MODULES / "monitoring.bicep"
ALERTS = MODULES / "alerts.bicep"
LOG_ARCHIVE = MODULES / "log-archive.bicep"
ACTIVITY_LOG = BICEP_DIR / "activity-log.bicep"

_PARSER = BicepParser()
_GUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
# Identifier-position rules whose right-hand side is a property name, not a symbol.
_LEFT_ONLY = {"property_accessor", "nested_resource_accessor"}
_DECLARATIONS = (
    *("param", "var", "resource", "module", "custom_type", "custom_func"),
    *("loop_array", "loop_array_index", "loop_object"),
)


def bicep_files() -> list[Path]:
    return sorted([MAIN, *MODULES.glob("*.bicep")])


def parse_text(text: str) -> dict[str, Any]:
    """pycep's JSON form; raises ValueError or a Lark error on invalid Bicep."""
    tree: dict[str, Any] = dict(_PARSER.parse(text=text))
    return tree


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    return parse_text(path.read_text(encoding="utf-8"))


def lark_tree(text: str) -> Tree[Token]:
    return _PARSER.lark_parser.parse(text)


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's own properties, under any loop or condition wrapper."""
    config: dict[str, Any] = resource["config"]
    while "loop_type" in config or ("condition" in config and "config" in config):
        config = config["config"]
    return config


def resources_of_type(tree: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {
        name: res
        for name, res in tree.get("resources", {}).items()
        if res["type"].lower() == type_name.lower()
    }


def resolve(tree: dict[str, Any], value: Any) -> Any:
    """A bare identifier naming a variable becomes that variable's value."""
    variables = tree.get("variables", {})
    if isinstance(value, str) and value in variables:
        return variables[value]["value"]
    return value


def walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def guids(text: str) -> set[str]:
    return {g.lower() for g in _GUID.findall(text)}


# --- symbols -----------------------------------------------------------------


def declared_symbols(tree: Tree[Token]) -> set[str]:
    names: set[str] = set()
    for node in tree.iter_subtrees():
        if node.data in _DECLARATIONS:
            names.update(c.value for c in node.children if isinstance(c, Token))
    return names


def referenced_symbols(node: Tree[Token] | Token | None) -> Iterator[str]:
    """Every bare identifier used as a value, including inside '${...}' interpolations."""
    if node is None:
        return
    if isinstance(node, Token):
        if node.type == "QUOTED_INTERPOLATION":
            for expression in interpolations(node.value):
                yield from referenced_symbols(lark_tree(f"var interpolated = {expression}\n"))
        return
    if node.data == "string":
        token = node.children[0]
        if isinstance(token, Token) and token.type == "STRING":
            yield token.value
            return
        yield from referenced_symbols(token)
        return
    if node.data in _LEFT_ONLY:
        yield from referenced_symbols(node.children[0])
        return
    for child in node.children:
        if isinstance(child, Tree) or (
            isinstance(child, Token) and child.type == "QUOTED_INTERPOLATION"
        ):
            yield from referenced_symbols(child)


def undeclared_symbols(text: str) -> set[str]:
    tree = lark_tree(text)
    declared = declared_symbols(tree)
    return set(referenced_symbols(tree)) - declared


def interpolations(quoted: str) -> Iterator[str]:
    """The expressions inside '${...}' of a quoted Bicep string, nesting respected."""
    i = 0
    while (start := quoted.find("${", i)) != -1:
        depth, j = 1, start + 2
        while j < len(quoted) and depth:
            depth += {"{": 1, "}": -1}.get(quoted[j], 0)
            j += 1
        yield quoted[start + 2 : j - 1]
        i = j


# --- modules and parameter files --------------------------------------------


def module_paths(path: Path) -> dict[str, Path]:
    tree = parse(path)
    return {
        name: (path.parent / mod["detail"]["path"]).resolve()
        for name, mod in tree.get("modules", {}).items()
    }


def required_params(tree: dict[str, Any]) -> set[str]:
    return {name for name, p in tree.get("parameters", {}).items() if "default" not in p}


def bicepparam_values(path: Path) -> tuple[str, dict[str, str]]:
    """The `using` target and each `param name = value` (value as written)."""
    text = path.read_text(encoding="utf-8")
    using = re.search(r"^using\s+'([^']+)'", text, re.M)
    values = dict(re.findall(r"^param\s+(\w+)\s*=\s*(.+?)\s*$", text, re.M))
    return (using.group(1) if using else ""), values
