"""Find a Functions app the way the Python worker does, and describe its functions.

The worker imports the script module by name, requires exactly one
FunctionRegister instance in it, and indexes `get_functions()`. We do the same,
so an app that devhost can load is an app the real host can load.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func

TRIGGER_TYPES = frozenset(
    {"httpTrigger", "queueTrigger", "timerTrigger", "orchestrationTrigger", "activityTrigger"}
)
# Non-trigger bindings devhost knows how to serve.
BINDING_TYPES = frozenset({"http", "durableClient"})


class DiscoveryError(RuntimeError):
    """The app cannot be loaded or uses something devhost cannot serve."""


@dataclass(frozen=True)
class FunctionSpec:
    """One function: its name, its trigger binding, its other bindings, its callable."""

    name: str
    trigger: dict[str, Any]
    bindings: tuple[dict[str, Any], ...]
    callable: Callable[..., Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    def binding_of_type(self, binding_type: str) -> dict[str, Any] | None:
        return next((b for b in self.bindings if b.get("type") == binding_type), None)


def load_module(target: str | Path) -> ModuleType:
    """Import `target`: a .py path, a directory holding function_app.py, or a module name."""
    path = Path(target)
    if path.is_dir():
        path = path / "function_app.py"
    if path.suffix == ".py":
        if not path.exists():
            raise DiscoveryError(f"no such app script: {path}")
        directory = str(path.resolve().parent)
        if directory not in sys.path:
            sys.path.insert(0, directory)
        return importlib.import_module(path.stem)
    return importlib.import_module(str(target))


def find_app(module: ModuleType) -> func.FunctionRegister:
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if len(apps) != 1:
        raise DiscoveryError(
            f"{module.__name__}: expected exactly one FunctionApp, found {len(apps)}"
        )
    return apps[0]


# get_functions() refuses to run twice on one app (it re-registers the names), and the
# worker calls it once per process; several hosts in one process (tests) share the result.
_DESCRIBED: weakref.WeakKeyDictionary[
    func.FunctionRegister, list[FunctionSpec] | DiscoveryError
] = weakref.WeakKeyDictionary()


def describe(app: func.FunctionRegister) -> list[FunctionSpec]:
    if app not in _DESCRIBED:
        try:
            _DESCRIBED[app] = _describe(app)
        except DiscoveryError as exc:
            _DESCRIBED[app] = exc
    result = _DESCRIBED[app]
    if isinstance(result, DiscoveryError):
        raise DiscoveryError(str(result))
    return list(result)


def _describe(app: func.FunctionRegister) -> list[FunctionSpec]:
    specs: list[FunctionSpec] = []
    for function in app.get_functions():
        name = function.get_function_name() or "<unnamed>"
        bindings = tuple(json.loads(raw) for raw in function.get_raw_bindings())
        trigger = next((b for b in bindings if str(b.get("type", "")).endswith("Trigger")), None)
        if trigger is None:
            raise DiscoveryError(f"function {name!r} has no trigger binding")
        for binding in bindings:
            kind = str(binding.get("type"))
            if kind not in TRIGGER_TYPES and kind not in BINDING_TYPES:
                raise DiscoveryError(
                    f"function {name!r} uses binding type {kind!r}, which devhost cannot serve"
                )
        specs.append(
            FunctionSpec(
                name=name,
                trigger=trigger,
                bindings=bindings,
                callable=function.get_user_function(),
            )
        )
    return specs


def discover(target: str | Path) -> list[FunctionSpec]:
    """Load the app at `target` and return one FunctionSpec per function."""
    return describe(find_app(load_module(target)))
