"""The Durable runtime's one backoff helper: doubling delays, retry until stored or stopped."""

from __future__ import annotations

import itertools

import pytest

from devhost.durable.backoff import Stopped, delays, persist


@pytest.mark.unit
def test_delays_double_up_to_the_cap() -> None:
    assert list(itertools.islice(delays(0.5, 10.0), 7)) == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("asyncio.sleep", fake_sleep)  # only persist() awaits in these tests
    return waits


@pytest.mark.unit
async def test_persist_retries_until_the_attempt_succeeds(slept: list[float]) -> None:
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise ConnectionError("storage down")
        return "stored"

    assert await persist(attempt, what="x", running=lambda: True) == "stored"
    assert calls == 4 and slept == [0.5, 1.0, 2.0]


@pytest.mark.unit
async def test_persist_can_wait_before_its_first_attempt(slept: list[float]) -> None:
    async def attempt() -> int:
        return 1

    assert await persist(attempt, what="x", running=lambda: True, wait_first=True) == 1
    assert slept == [0.5]


@pytest.mark.unit
async def test_persist_gives_up_once_the_runtime_has_stopped(slept: list[float]) -> None:
    async def attempt() -> None:
        raise ConnectionError("storage down")

    with pytest.raises(Stopped):
        await persist(attempt, what="x", running=lambda: False)
    assert slept == []
