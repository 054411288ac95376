"""Timer triggers: runOnStartup and NCRONTAB firing, with real TimerRequest objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devhost.discovery import discover, load_module
from devhost.timers import TimerRunner
from tests.devhost.host_support import APPS, eventually, running_host, write_host_json

pytestmark = pytest.mark.devhost


async def test_timer_runs_on_startup_then_on_schedule(tmp_path: Path):
    module = load_module(APPS / "host_timer.py")
    module.FIRED.clear()
    host_json = write_host_json(tmp_path, {})
    async with running_host("host_timer.py", host_json):
        # Startup run plus at least two scheduled ("* * * * * *") runs.
        await eventually(lambda: len(module.FIRED) >= 3)
    assert module.FIRED[:3] == [False, False, False]


async def test_late_occurrence_is_past_due():
    module = load_module(APPS / "host_timer.py")
    module.FIRED.clear()
    spec = discover(APPS / "host_timer.py")[0]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    readings = iter([start])
    # The first reading schedules start+1s; every later one says start+5s: the run is late.
    runner = TimerRunner(spec, clock=lambda: next(readings, start + timedelta(seconds=5)))
    runner.run_on_startup = False
    runner.start()
    try:
        await eventually(lambda: module.FIRED)
    finally:
        await runner.stop()
    assert module.FIRED[0] is True
