"""Timer triggers: NCRONTAB schedules in UTC, runOnStartup, no overlapping runs.

Like the host, runs of one timer never overlap: the next occurrence is computed
after a run ends. An occurrence that starts more than a second late (a busy
loop) gets past_due=True. Unlike the host there is no schedule monitor in
storage, so occurrences missed while devhost was down are not caught up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from azure.functions.timer import TimerRequest

from devhost.bindings import DurableClientJson, invoke
from devhost.config import resolve_setting_refs
from devhost.discovery import FunctionSpec
from devhost.ncrontab import Schedule, parse

log = logging.getLogger("devhost.timers")
PAST_DUE_TOLERANCE = 1.0  # seconds of lateness before an occurrence counts as past due


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class TimerRunner:
    def __init__(
        self,
        spec: FunctionSpec,
        durable_client_json: DurableClientJson | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.spec = spec
        self.schedule: Schedule = parse(resolve_setting_refs(str(spec.trigger["schedule"])))
        self.run_on_startup = bool(spec.trigger.get("runOnStartup"))
        self.durable_client_json = durable_client_json
        self.clock = clock
        self.last: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"timer:{self.spec.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        if self.run_on_startup:
            await self._fire(self.clock(), past_due=False)
        due = self.schedule.next_after(self.clock())
        while True:
            wait = (due - self.clock()).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)
            now = self.clock()
            await self._fire(due, past_due=(now - due).total_seconds() > PAST_DUE_TOLERANCE)
            due = self.schedule.next_after(max(due, self.clock()))

    async def _fire(self, occurrence: datetime, *, past_due: bool) -> None:
        nxt = self.schedule.next_after(occurrence)
        request = TimerRequest(
            past_due=past_due,
            schedule_status={
                "Last": _iso(self.last),
                "Next": _iso(nxt),
                "LastUpdated": _iso(self.clock()),
            },
            schedule={"AdjustForDST": True},
        )
        self.last = occurrence
        try:
            await invoke(self.spec, request, self.durable_client_json)
        except Exception:
            log.exception("timer function %s failed", self.spec.name)
