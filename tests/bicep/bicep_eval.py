"""Expanding main.bicep for given parameter values, offline (no Bicep compiler here).

A small evaluator over pycep's JSON form: parameters (defaults overridden by the
caller), variables, module parameters passed down from main.bicep, conditions,
and the expression forms the templates use for the choices under test
(conditional, equality, index and property access, `split`, `union`, `items`,
'${...}' interpolation). What only exists at deployment time (another module's
or resource's outputs) evaluates to a marker string `<symbol.path>`.

pycep drops the quotes of string literals, so an identifier that names no
parameter, variable or loop item is read as the literal string it spells (the
same convention as test_deployability.evaluate).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bicep.bicep_tree import MAIN, body, interpolations, parse, parse_text

_IDENT = re.compile(r"^[A-Za-z_]\w*$")


class Unresolved(str):
    """A deployment-time value (another module's or resource's output)."""


@dataclass
class Scope:
    """One template with its parameter values: main.bicep or a module it calls."""

    path: Path
    given: dict[str, Any]
    lazy: Callable[[str], Any] | None = None
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def tree(self) -> dict[str, Any]:
        return parse(self.path)

    # --- symbols -----------------------------------------------------------

    def has(self, name: str) -> bool:
        tree = self.tree
        return name in tree.get("parameters", {}) or name in tree.get("variables", {})

    def value(self, name: str) -> Any:
        if name in self._cache:
            return self._cache[name]
        tree = self.tree
        if name in tree.get("parameters", {}):
            if name in self.given:
                result = self.given[name]
            elif self.lazy is not None:
                result = self.lazy(name)
            else:
                result = self.eval(tree["parameters"][name]["default"])
        else:
            result = self.eval(tree["variables"][name]["value"])
        self._cache[name] = result
        return result

    # --- expressions -----------------------------------------------------------

    def eval(self, node: Any, local: dict[str, Any] | None = None) -> Any:
        local = local or {}
        if isinstance(node, str):
            if node in local:
                return local[node]
            if _IDENT.match(node) and self.has(node):
                return self.value(node)
            if "${" in node:
                return self._interpolate(node, local)
            if _IDENT.match(node) and node in self.tree.get("resources", {}):
                return Unresolved(f"<{node}>")
            return node
        if isinstance(node, bool | int | float) or node is None:
            return node
        if isinstance(node, list):
            return [self.eval(item, local) for item in node]
        if "operator" in node:
            return self._operator(node["operator"], local)
        if "function" in node:
            return self._function(node["function"], local)
        return {key: self.eval(value, local) for key, value in node.items()}

    def _interpolate(self, text: str, local: dict[str, Any]) -> str:
        out = text
        for expression in interpolations(text):
            parsed = parse_text(f"var interpolated = {expression}\n")
            value = self.eval(parsed["variables"]["interpolated"]["value"], local)
            out = out.replace("${" + expression + "}", str(value), 1)
        return out

    def _operator(self, op: dict[str, Any], local: dict[str, Any]) -> Any:
        kind, ops = op["type"], op["operands"]
        if kind == "conditional":
            branch = "true_value" if self.eval(ops["condition"], local) else "false_value"
            return self.eval(ops[branch], local)
        if kind == "not":
            return not self.eval(ops["bool_value"], local)
        if kind == "property_accessor":
            return self._property(ops, local)
        left = self.eval(ops["operand_1"], local)
        right = self.eval(ops["operand_2"], local)
        if kind == "equals":
            return left == right
        if kind == "not_equals":
            return left != right
        if kind == "and":
            return bool(left) and bool(right)
        if kind == "or":
            return bool(left) or bool(right)
        if kind == "index_accessor":
            if isinstance(left, Unresolved):
                return Unresolved(f"{left}[{right}]")
            return left[right]
        raise AssertionError(f"cannot evaluate operator {kind}")

    def _property(self, ops: dict[str, Any], local: dict[str, Any]) -> Any:
        base = ops["operand_1"]
        path = ops["operand_2"]
        keys: list[str] = []
        while isinstance(path, dict) and path.get("operator", {}).get("type") == (
            "property_accessor"
        ):
            keys.append(path["operator"]["operands"]["operand_1"])
            path = path["operator"]["operands"]["operand_2"]
        keys.append(path)
        if isinstance(base, str) and base not in local and not self.has(base):
            return Unresolved("<" + ".".join([base, *keys]) + ">")
        value = self.eval(base, local)
        for key in keys:
            if isinstance(value, Unresolved):
                return Unresolved(f"{value}.{key}")
            value = value[key]
        return value

    def _function(self, fn: dict[str, Any], local: dict[str, Any]) -> Any:
        kind = fn["type"]
        args = [self.eval(v, local) for v in fn.get("parameters", {}).values()]
        if kind == "split":
            return str(args[0]).split(str(args[1]))
        if kind == "union":
            if all(isinstance(a, dict) for a in args):
                merged: dict[str, Any] = {}
                for arg in args:
                    merged.update(arg)
                return merged
            return list(dict.fromkeys(item for arg in args for item in arg))
        if kind == "concat":
            if all(isinstance(a, list) for a in args):
                return [item for arg in args for item in arg]
            return "".join(str(a) for a in args)
        if kind == "items":
            return [{"key": k, "value": v} for k, v in sorted(args[0].items())]
        if kind == "empty":
            return not args[0]
        if kind == "contains":
            return args[1] in args[0]
        if kind == "to_lower":
            return str(args[0]).lower()
        if kind == "string":
            return str(args[0])
        return Unresolved(f"<{kind}(...)>")

    # --- loops -----------------------------------------------------------------

    def expand(self, node: Any) -> Any:
        """A value that may be a `[for x in array: {...}]` loop, expanded."""
        if isinstance(node, dict) and "loop_type" in node:
            detail = node["loop_type"]["detail"]
            array = self.eval(detail["array_name"])
            item = detail["item_name"]
            return [self.eval(node["config"], {item: entry}) for entry in array]
        return self.eval(node)


def main_scope(**params: Any) -> Scope:
    return Scope(MAIN, dict(params))


def module_condition(main: Scope, module: str) -> bool:
    """Whether main.bicep deploys `module` with these parameters."""
    config = main.tree["modules"][module]["config"]
    if "condition" in config and "config" in config:
        return bool(main.eval(config["condition"]))
    return True


def module_scope(main: Scope, module: str) -> Scope:
    """The module as main.bicep calls it: its parameters evaluated in main's scope."""
    declared = main.tree["modules"][module]
    path = (main.path.parent / declared["detail"]["path"]).resolve()
    args = body(declared)["params"]

    def passed(name: str) -> Any:
        if name in args:
            return main.eval(args[name])
        default = parse(path)["parameters"][name].get("default")
        return Scope(path, {}).eval(default)

    return Scope(path, {}, lazy=passed)


def deployed_resources(scope: Scope) -> dict[str, dict[str, Any]]:
    """Symbol -> {type, existing, config} of the resources this scope deploys."""
    found: dict[str, dict[str, Any]] = {}
    for name, resource in scope.tree.get("resources", {}).items():
        config = resource["config"]
        conditional = "condition" in config and "config" in config and "loop_type" not in config
        if conditional and not scope.eval(config["condition"]):
            continue
        found[name] = resource
    return found
