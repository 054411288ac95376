"""App setting names the code reads, collected from its source, not typed here.

Sources: every SETTING_* constant in archive/names.py, and every environment read
(`os.environ[...]`, `os.environ.get(...)`, `os.getenv(...)`) in ingest/,
orchestrations/ and storage/ whose name can be resolved statically: a literal, a
names.py constant, or an f-string over those (including a function parameter
whose default is such a constant, e.g. `f"{setting}__accountName"`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from archive import names
from tests.bicep.bicep_tree import REPO

CODE_DIRS = ("ingest", "orchestrations", "storage")


def names_settings() -> set[str]:
    return {
        value
        for key, value in vars(names).items()
        if key.startswith("SETTING_") and isinstance(value, str)
    }


def env_reads(dirs: tuple[str, ...] = CODE_DIRS) -> set[str]:
    found: set[str] = set()
    for directory in dirs:
        for path in sorted((REPO / directory).rglob("*.py")):
            found.update(env_reads_in(path.read_text(encoding="utf-8")))
    return found


def env_reads_in(source: str) -> set[str]:
    tree = ast.parse(source)
    module_scope = _imported_names(tree)
    found: set[str] = set()
    for scope, node in _with_scopes(tree, module_scope):
        key = _env_key(node)
        if key is not None and (value := _resolve(key, scope)) is not None:
            found.add(value)
    return found


def _imported_names(tree: ast.Module) -> dict[str, str]:
    scope: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "archive.names":
            for alias in node.names:
                value = getattr(names, alias.name, None)
                if isinstance(value, str):
                    scope[alias.asname or alias.name] = value
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    scope[target.id] = node.value.value
    return scope


def _with_scopes(
    tree: ast.AST, module_scope: dict[str, str]
) -> Iterator[tuple[dict[str, str], ast.AST]]:
    """Each node, with the names it can resolve: module names plus parameter defaults."""
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    seen: set[int] = set()
    for function in functions:
        scope = dict(module_scope)
        args = function.args
        positional = [*args.posonlyargs, *args.args]
        with_defaults = positional[len(positional) - len(args.defaults) :]
        for arg, default in zip(with_defaults, args.defaults, strict=True):
            if (value := _resolve(default, module_scope)) is not None:
                scope[arg.arg] = value
        for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
            if kw_default is not None and (value := _resolve(kw_default, module_scope)) is not None:
                scope[arg.arg] = value
        for node in ast.walk(function):
            if id(node) not in seen:
                seen.add(id(node))
                yield scope, node
    for node in ast.walk(tree):
        if id(node) not in seen:
            yield module_scope, node


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def _env_key(node: ast.AST) -> ast.expr | None:
    if isinstance(node, ast.Subscript) and _is_environ(node.value):
        return node.slice
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "get" and _is_environ(func.value):
            return node.args[0]
        if (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
            isinstance(func, ast.Name) and func.id == "getenv"
        ):
            return node.args[0]
    return None


def _resolve(node: ast.expr, scope: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return scope.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        value = getattr(names, node.attr, None) if node.value.id == "names" else None
        return value if isinstance(value, str) else None
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for part in node.values:
            inner = part.value if isinstance(part, ast.FormattedValue) else part
            if (text := _resolve(inner, scope)) is None:
                return None
            parts.append(text)
        return "".join(parts)
    return None


def design_settings(design: Path) -> set[str]:
    """Setting names in DESIGN.md's "Settings" table (backticked, first column)."""
    text = design.read_text(encoding="utf-8")
    section = text.split("**Settings**", 1)[1].split("\n\n**", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Za-z_][\w]*)`", row)}
