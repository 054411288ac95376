"""Table-driven walk over a provider payload's item lists, shared by the provider adapters.

A provider body carries lists of items (Meta: ``messages``, ``statuses``,
``message_echoes``); each adapter declares which list goes to which handler and lets
:func:`dispatch_items` do the walk, so every list gets the same tolerance: a non-object
item is reported as a problem by its path, never raised and never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Scope = TypeVar("Scope")


@dataclass(frozen=True)
class ItemRoute(Generic[Scope]):
    """Items of ``container[key]`` go to ``handle(scope, path, item)``."""

    key: str
    handle: Callable[[Scope, str, dict[str, Any]], None]


def dispatch_items(
    container: object,
    where: str,
    routes: Iterable[ItemRoute[Scope]],
    scope: Scope,
    problems: list[str],
) -> None:
    """Route every item of every listed key, in route order then list order."""
    if not isinstance(container, dict):
        return
    for route in routes:
        values = container.get(route.key)
        if not isinstance(values, list):
            continue
        for index, item in enumerate(values):
            path = f"{where}.{route.key}[{index}]"
            if isinstance(item, dict):
                route.handle(scope, path, item)
            else:
                problems.append(f"{path}: not an object")
