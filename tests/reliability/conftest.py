"""Fixtures for the reliability suite: a private Azurite + Graph stand-in + devhost stack."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.load_stack import LoadStack, write_host_json
from devhost.azurite import Azurite

# devhost with a 15 s queue lease instead of 10 minutes (see short_lease_devhost.py).
SHORT_LEASE = [sys.executable, "-m", "tests.reliability.short_lease_devhost"]

StackFactory = Callable[..., LoadStack]


@pytest.fixture
def make_stack(fresh_azurite: Azurite, tmp_path: Path) -> Iterator[StackFactory]:
    """Start a stack on the test's private Azurite; a failed message retries after 1 s."""
    started: list[LoadStack] = []
    host_json = write_host_json(
        tmp_path / "host.json", visibilityTimeout="00:00:01", maxPollingInterval="00:00:01"
    )

    def make(short_lease: bool = False) -> LoadStack:
        stack = LoadStack(
            tmp_path / "stack", azurite=fresh_azurite, host_json=host_json,
            launcher=SHORT_LEASE if short_lease else None,
        )
        started.append(stack)
        return stack.start()

    try:
        yield make
    finally:
        for stack in started:
            stack.stop()
