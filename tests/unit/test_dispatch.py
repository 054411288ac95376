"""The table-driven item walk the provider adapters share."""

from typing import Any

import pytest

from archive.dispatch import ItemRoute, dispatch_items

pytestmark = pytest.mark.unit


def _collect(seen: list[tuple[str, str]], tag: str) -> ItemRoute[list[tuple[str, str]]]:
    def handle(scope: list[tuple[str, str]], path: str, item: dict[str, Any]) -> None:
        scope.append((tag, path))

    return ItemRoute(tag, handle)


def test_items_go_to_their_handlers_in_route_then_list_order() -> None:
    seen: list[tuple[str, str]] = []
    problems: list[str] = []
    routes = (_collect(seen, "b"), _collect(seen, "a"))
    dispatch_items({"a": [{}, {}], "b": [{}], "c": [{}]}, "root", routes, seen, problems)
    assert seen == [("b", "root.b[0]"), ("a", "root.a[0]"), ("a", "root.a[1]")]
    assert problems == []


def test_non_objects_are_problems_by_path_and_wrong_shapes_are_ignored() -> None:
    seen: list[tuple[str, str]] = []
    problems: list[str] = []
    routes = (_collect(seen, "a"), _collect(seen, "b"))
    dispatch_items({"a": [1, {}, None], "b": "not a list"}, "w", routes, seen, problems)
    assert seen == [("a", "w.a[1]")]
    assert problems == ["w.a[0]: not an object", "w.a[2]: not an object"]
    dispatch_items(["not", "a", "dict"], "w", routes, seen, problems)
    assert len(seen) == 1 and len(problems) == 2
