"""Runs the activities and durable timers that orchestrator episodes schedule.

A result counts once an episode has committed it to history (see runtime.py for the
write order): the runner hands it to the runtime in memory, and the instance's next
episode replays it and records it in the same transaction as its own history.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any

from devhost.discovery import FunctionSpec
from devhost.durable import history as h
from devhost.durable.history import Event, EventType, type_of
from devhost.durable.store import InboxItem, Row, TaskHubStore
from devhost.invoke import call_user_function

# (instance, execution, "task"|"timer", event id)
WorkKey = tuple[str, str, str, int]
Deliver = Callable[[str, str, InboxItem], Awaitable[None]]


class WorkRunner:
    def __init__(
        self,
        *,
        activities: Mapping[str, FunctionSpec],
        store: TaskHubStore,
        max_concurrent_activities: int,
        is_current: Callable[[str, str], bool],
        deliver: Deliver,
        running: Callable[[], bool],
    ) -> None:
        self.activities = activities
        self.store = store
        self._slots = asyncio.Semaphore(max(1, max_concurrent_activities))
        self._is_current = is_current
        self._deliver = deliver
        self._running = running
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight: set[WorkKey] = set()

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    def start_activity(self, instance_id: str, execution_id: str, scheduled: Event) -> None:
        self._spawn(self._run_activity(instance_id, execution_id, scheduled))

    def start_timer(self, instance_id: str, execution_id: str, created: Event) -> None:
        self._spawn(self._run_timer(instance_id, execution_id, created))

    def rearm(
        self,
        instance_id: str,
        execution_id: str,
        history: Sequence[Row],
        inbox: Sequence[InboxItem],
    ) -> None:
        """Start every scheduled activity and unfired timer that has no completion yet."""
        done = {h.completion_key(r.event) for r in history}
        done |= {h.completion_key(i.event) for i in inbox}
        for row in history:
            kind, event_id = type_of(row.event), int(row.event["EventId"])
            label = "task" if kind is EventType.TaskScheduled else "timer"
            if (instance_id, execution_id, label, event_id) in self._inflight:
                continue  # still running in this process: its result is on the way
            if kind is EventType.TaskScheduled and ("task", event_id) not in done:
                self.start_activity(instance_id, execution_id, row.event)
            elif (
                kind is EventType.TimerCreated
                and ("timer", event_id) not in done
                and not row.meta.get("canceled")
            ):
                self.start_timer(instance_id, execution_id, row.event)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, instance_id: str, execution_id: str, event: Event) -> None:
        """Hand a completion to its instance in memory; the next episode commits it.

        Not written first: the episode's one transaction records it in history, and a
        process that dies before then re-runs the work from history (at least once).
        """
        if not self._is_current(instance_id, execution_id):
            return
        item = InboxItem(self.store.new_inbox_key(), execution_id, event, persisted=False)
        await self._deliver(instance_id, execution_id, item)

    async def _run_activity(self, instance_id: str, execution_id: str, scheduled: Event) -> None:
        key = (instance_id, execution_id, "task", int(scheduled["EventId"]))
        self._inflight.add(key)
        try:
            await self._activity(instance_id, execution_id, scheduled)
        finally:
            self._inflight.discard(key)

    async def _activity(self, instance_id: str, execution_id: str, scheduled: Event) -> None:
        async with self._slots:
            if not self._is_current(instance_id, execution_id):
                return
            name, task_id = str(scheduled["Name"]), int(scheduled["EventId"])
            try:
                spec = self.activities.get(name)
                if spec is None:
                    raise LookupError(f"activity function '{name}' is not defined")
                input_text = scheduled.get("Input")
                argument = None if input_text is None else json.loads(input_text)
                value = await call_user_function(
                    spec.callable, {str(spec.trigger["name"]): argument}
                )
                done = h.task_completed(task_id, json.dumps(value))
            except Exception as exc:
                done = h.task_failed(
                    task_id, f"Activity function '{name}' failed: {exc}", type(exc).__name__
                )
            await self._record(instance_id, execution_id, done)

    async def _run_timer(self, instance_id: str, execution_id: str, created: Event) -> None:
        key = (instance_id, execution_id, "timer", int(created["EventId"]))
        self._inflight.add(key)
        try:
            delay = (h.parse_iso(str(created["FireAt"])) - h.utc_now()).total_seconds()
            await asyncio.sleep(max(0.0, delay))
            fired = h.timer_fired(int(created["EventId"]), str(created["FireAt"]))
            await self._record(instance_id, execution_id, fired)
        finally:
            self._inflight.discard(key)
