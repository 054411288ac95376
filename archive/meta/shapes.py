"""Tolerant accessors for untrusted JSON: wrong types read as absent, never raise."""

from __future__ import annotations

from typing import Any


def obj(container: object, key: str) -> dict[str, Any]:
    if isinstance(container, dict):
        value = container.get(key)
        if isinstance(value, dict):
            return value
    return {}


def items(container: object, key: str) -> list[Any]:
    if isinstance(container, dict):
        value = container.get(key)
        if isinstance(value, list):
            return value
    return []


def text(container: object, key: str) -> str | None:
    """A string field; ints are accepted as their decimal text (ids sometimes arrive as ints)."""
    if not isinstance(container, dict):
        return None
    value = container.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def pick(container: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The listed keys that are present (values copied as-is, they are JSON already)."""
    return {key: container[key] for key in keys if key in container}


def dicts(values: list[Any]) -> tuple[dict[str, Any], ...]:
    return tuple(value for value in values if isinstance(value, dict))
