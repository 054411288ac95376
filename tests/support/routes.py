"""Call an HTTP function in-process, as the Functions worker does: awaited on an event loop."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import azure.functions as func

from storage.clients import close_aio_clients


def call_route(
    handler: Callable[[func.HttpRequest], Any], req: func.HttpRequest
) -> func.HttpResponse:
    """`handler(req)` on a fresh loop, awaited when async; its aio Storage clients closed after.

    The front door keeps one set of aio clients per event loop (the worker has one loop);
    each test call gets its own loop here, so its clients are closed with it.
    """

    async def run() -> Any:
        try:
            result = handler(req)
            return await result if inspect.isawaitable(result) else result
        finally:
            await close_aio_clients()

    response = asyncio.run(run())
    assert isinstance(response, func.HttpResponse)
    return response
