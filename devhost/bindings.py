"""Build a user function's arguments the way the Python worker does.

The trigger value goes to the trigger binding's parameter, each durableClient
parameter gets the client JSON, and a parameter named `context` gets a
func.Context, as the worker's reserved-name rule gives it.
"""

from __future__ import annotations

import functools
import inspect
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions import _abc as func_abc

from devhost.discovery import FunctionSpec
from devhost.invoke import call_user_function

DurableClientJson = Callable[[dict[str, Any]], str]


class _NoTrace(func_abc.TraceContext):
    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return ""

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _NoRetry(func_abc.RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class InvocationContext(func.Context):
    """A func.Context for one invocation."""

    def __init__(self, function_name: str, function_directory: str) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._thread_local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> threading.local:  # type: ignore[override]
        return self._thread_local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> func_abc.TraceContext:
        return _NoTrace()

    @property
    def retry_context(self) -> func_abc.RetryContext:
        return _NoRetry()


# Per function, not per call: inspect.signature cost ~0.1 ms on every HTTP request.
@functools.cache
def _accepts_context(fn: Callable[..., Any]) -> bool:
    try:
        return "context" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


@functools.cache
def _directory_of(fn: Callable[..., Any]) -> str:
    try:
        return str(Path(inspect.getfile(inspect.unwrap(fn))).parent)
    except TypeError:
        return ""


async def invoke(
    spec: FunctionSpec, trigger_value: Any, durable_client_json: DurableClientJson | None
) -> Any:
    """Call `spec` with its trigger value and any durableClient/context arguments."""
    kwargs: dict[str, Any] = {str(spec.trigger["name"]): trigger_value}
    for binding in spec.bindings:
        if binding.get("type") == "durableClient":
            if durable_client_json is None:
                raise RuntimeError(f"function {spec.name!r} needs the Durable runtime")
            kwargs[str(binding["name"])] = durable_client_json(binding)
    if _accepts_context(spec.callable) and "context" not in kwargs:
        kwargs["context"] = InvocationContext(spec.name, _directory_of(spec.callable))
    return await call_user_function(spec.callable, kwargs)
