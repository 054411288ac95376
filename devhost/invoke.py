"""Call a user function the way the worker does: async functions awaited, sync ones in a thread."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any


async def call_user_function(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Run `fn(**kwargs)`; sync code goes to a worker thread so it cannot block the loop."""
    if inspect.iscoroutinefunction(fn):
        return await fn(**kwargs)
    result = await asyncio.to_thread(fn, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result
