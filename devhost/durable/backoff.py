"""Retry a storage write until it lands, backing off while storage is unreachable.

Both users (recording a completion, reloading an instance after a failed episode)
must not give up while the runtime lives: giving up would strand an instance.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

log = logging.getLogger("devhost.durable")
T = TypeVar("T")

# An emulator restart or a network blip lasts seconds; 10 s keeps the log quiet
# during a longer outage without making recovery slow once storage is back.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 10.0


class Stopped(Exception):
    """The runtime stopped while an operation was being retried."""


def delays(
    first: float = RETRY_FIRST_SECONDS, maximum: float = RETRY_MAX_SECONDS
) -> Iterator[float]:
    """first, 2·first, 4·first, … capped at maximum."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, maximum)


async def persist(
    attempt: Callable[[], Awaitable[T]],
    *,
    what: str,
    running: Callable[[], bool],
    wait_first: bool = False,
) -> T:
    """`attempt()` until it succeeds; raises Stopped once a failure finds the runtime stopped.

    `wait_first` waits one delay before the first attempt: a caller that just saw
    storage fail should not hit it again at once.
    """
    waits = delays()
    if wait_first:
        await asyncio.sleep(next(waits))
    while True:
        try:
            return await attempt()
        except Exception as exc:
            if not running():
                raise Stopped from exc
            delay = next(waits)
            log.warning("%s failed (%s); retrying in %.1fs", what, type(exc).__name__, delay)
            await asyncio.sleep(delay)
