"""Helpers for the devhost host tests: run a DevHost in-process on free ports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from devhost.host import DevHost
from devhost.keys import KeyRing

APPS = Path(__file__).parent / "apps"


def write_host_json(folder: Path, extensions: dict[str, Any]) -> Path:
    path = folder / "host.json"
    path.write_text(json.dumps({"version": "2.0", "extensions": extensions}), encoding="utf-8")
    return path


@asynccontextmanager
async def running_host(
    app: str, host_json: Path, keys: KeyRing | None = None
) -> AsyncIterator[DevHost]:
    host = DevHost(APPS / app, host_json=host_json, port=0, rpc_port=0, keys=keys or KeyRing())
    await host.start()
    try:
        yield host
    finally:
        await host.stop()


async def eventually(check: Callable[[], Any], *, deadline: float = 30.0) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; fail after `deadline`."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > end:
            raise AssertionError(f"condition not met within {deadline}s")
        await asyncio.sleep(0.05)
