"""OrchestrationRuntime: drives orchestrations through the SDK's own replay, on Azurite tables.

Per instance, one driver task replays episodes one at a time (an asyncio lock
also serialises start, terminate and purge against it). Crash safety comes
from write order:
  1. an activity result or fired timer is handed to the instance in memory and counts
     once an episode has committed it to history;
  2. an episode commits its history (ending in OrchestratorCompleted), the instance row
     and the deletion of any inbox rows it consumed in one transaction (store.commit),
     then starts its new work; a start runs the first episode before it answers, so the
     instance row and its first history are one create-only write;
  3. on start, unfinished instances reload history + inbox, drop inbox rows already in
     history, and re-arm every TaskScheduled without a completion and every unfired timer.
So a committed completion never runs again, and one lost with the process runs again
(at least once, as Durable promises). A storage failure never strands an instance nor
drops a result: a failed episode first writes the results it held in memory to the
inbox (retried with backoff), then reloads the instance from storage as a restart would
(re-arming only work that is not already running in this process).
Activities and timers run in work.py; the HTTP API (api.py) sits on top of this module.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from devhost.discovery import FunctionSpec
from devhost.durable import history as h
from devhost.durable.backoff import Stopped, persist
from devhost.durable.engine import (
    choose_events,
    context_json,
    execution_ending,
    plan_episode,
    scheduling_rows,
)
from devhost.durable.history import Event
from devhost.durable.store import (
    ACTIVE,
    TERMINAL,
    CommitConflict,
    InboxItem,
    Instance,
    Row,
    TaskHubStore,
    instance_filter,
)
from devhost.durable.work import WorkRunner
from devhost.invoke import call_user_function

log = logging.getLogger("devhost.durable")


class UnknownOrchestrator(LookupError):
    """Start was asked for an orchestrator the app does not define."""


@dataclass
class Live:
    """An unfinished instance held in memory: its row, committed history and inbox."""

    instance: Instance
    history: list[Row] = field(default_factory=list)
    inbox: list[InboxItem] = field(default_factory=list)


class OrchestrationRuntime:
    """Drives instances on one task hub; devhost.durable.DurableRuntime adds the HTTP API."""

    def __init__(
        self,
        *,
        specs: Sequence[FunctionSpec],
        connection_string: str,
        hub_name: str,
        rpc_base_url: str,
        max_concurrent_activities: int = 10,
        max_concurrent_orchestrators: int = 10,
        management_base_url: str | None = None,
    ) -> None:
        self.orchestrators = {s.name: s for s in specs if s.trigger_type == "orchestrationTrigger"}
        self.activities = {s.name: s for s in specs if s.trigger_type == "activityTrigger"}
        self.hub_name = hub_name
        self.rpc_base_url = rpc_base_url if rpc_base_url.endswith("/") else rpc_base_url + "/"
        self.management_base_url = management_base_url or self.rpc_base_url
        self.store = TaskHubStore(connection_string, hub_name)
        self._orchestrator_slots = asyncio.Semaphore(max(1, max_concurrent_orchestrators))
        self._live: dict[str, Live] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._drivers: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()
        self._work: set[asyncio.Task[None]] = set()
        self._running = False
        self.work = WorkRunner(
            activities=self.activities,
            store=self.store,
            max_concurrent_activities=max_concurrent_activities,
            is_current=lambda iid, eid: self._still_current(iid, eid) is not None,
            deliver=self._deliver,
            running=lambda: self._running,
        )

    # Lifecycle

    async def start(self) -> None:
        await self.store.create()
        self._running = True
        for instance in await self.store.query_instances(instance_filter(statuses=sorted(ACTIVE))):
            async with self._lock(instance.instance_id):
                live = await self._load(instance)
            if live is not None:
                self._arm_outstanding(live)
                self._wake(instance.instance_id)

    async def stop(self) -> None:
        self._running = False
        tasks = [*self._drivers.values(), *self._work]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.work.stop()
        self._drivers.clear()
        self._work.clear()
        self._live.clear()
        await self.store.close()

    @property
    def unfinished(self) -> int:
        """Instances this process is still driving (Pending or Running)."""
        return len(self._live)

    # Instance management (used by the HTTP API)

    async def start_instance(
        self, name: str, instance_id: str | None, input_text: str | None
    ) -> tuple[Instance, bool]:
        """(instance, created). An active instance with that id is left as it is."""
        if name not in self.orchestrators:
            raise UnknownOrchestrator(
                f"The function '{name}' doesn't exist, is disabled, "
                "or is not an orchestrator function."
            )
        instance_id = instance_id or uuid.uuid4().hex
        async with self._orchestrator_slots, self._lock(instance_id):
            live = self._live.get(instance_id)
            if live is not None and live.instance.status in ACTIVE:
                return live.instance, False
            try:
                instance = await self._first_episode(name, instance_id, input_text, create=True)
            except CommitConflict:
                existing = await self.store.get_instance(instance_id)
                if existing is not None and existing.status in ACTIVE:
                    return existing, False
                # A finished instance is replaced, as Durable's start does.
                instance = await self._first_episode(name, instance_id, input_text, create=False)
                await self.store.delete_old_executions(instance_id, instance.execution_id)
                await self.store.delete_inbox(
                    instance_id, [i.row_key for i in await self.store.load_inbox(instance_id)]
                )
        self._wake(instance_id)
        return instance, True

    async def _first_episode(
        self, name: str, instance_id: str, input_text: str | None, *, create: bool
    ) -> Instance:
        """Run the first episode before answering: one write creates the row and its history."""
        now = h.utc_now()
        instance = Instance(instance_id, name, "Pending", uuid.uuid4().hex, input_text, now, now)
        live = Live(instance)
        self._live[instance_id] = live
        try:
            await self._episode(instance_id, create=create)
        except BaseException:
            self._live.pop(instance_id, None)
            raise
        return live.instance

    async def get_instance(self, instance_id: str) -> Instance | None:
        live = self._live.get(instance_id)
        return live.instance if live else await self.store.get_instance(instance_id)

    async def get_history(self, instance: Instance) -> list[Event]:
        live = self._live.get(instance.instance_id)
        rows = (
            live.history
            if live
            else await self.store.load_history(instance.instance_id, instance.execution_id)
        )
        return [r.event for r in rows]

    async def terminate(self, instance_id: str, reason: str) -> int:
        """HTTP status the Durable API gives: 202 done, 404 unknown, 410 already finished."""
        async with self._lock(instance_id):
            instance = await self.get_instance(instance_id)
            if instance is None:
                return 404
            if instance.status in TERMINAL:
                return 410
            live = self._live.get(instance_id) or await self._load(instance)
            if live is None:
                return 410
            rows = [
                Row(h.orchestrator_started(h.utc_now())),
                Row(h.execution_terminated(reason)),
                Row(h.orchestrator_completed()),
            ]
            ended = dataclasses.replace(
                instance, status="Terminated", output_text=json.dumps(reason), updated=h.utc_now()
            )
            await self.store.commit(ended, len(live.history), rows)
            self._live.pop(instance_id, None)
        return 202

    async def purge(self, instance_id: str) -> int:
        """HTTP status: 200 purged, 404 unknown, 409 still active (never purged)."""
        async with self._lock(instance_id):
            instance = await self.get_instance(instance_id)
            if instance is None:
                return 404
            if instance.status in ACTIVE:
                return 409
            await self.store.delete_instance(instance_id)
            self._live.pop(instance_id, None)
            return 200

    # Driving episodes

    def _lock(self, instance_id: str) -> asyncio.Lock:
        return self._locks.setdefault(instance_id, asyncio.Lock())

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    def _wake(self, instance_id: str) -> None:
        if not self._running:
            return
        driver = self._drivers.get(instance_id)
        if driver is not None and not driver.done():
            self._dirty.add(instance_id)
            return
        self._drivers[instance_id] = asyncio.create_task(self._drive(instance_id))

    async def _drive(self, instance_id: str) -> None:
        try:
            while True:
                self._dirty.discard(instance_id)
                async with self._orchestrator_slots, self._lock(instance_id):
                    progressed = await self._episode(instance_id)
                if not progressed and instance_id not in self._dirty:
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Memory may now disagree with storage (e.g. history written, instance row
            # not): rebuild from storage, which is what a restart would do.
            log.warning(
                "durable episode failed for instance %s (%s); reloading it from storage",
                instance_id,
                type(exc).__name__,
            )
            live = self._live.get(instance_id)
            unsaved = [i for i in live.inbox if not i.persisted] if live else []
            self._spawn(self._recover(instance_id, unsaved))

    async def _recover(self, instance_id: str, unsaved: Sequence[InboxItem] = ()) -> None:
        try:
            for item in unsaved:
                # Written under its own key, so a retry after a lost answer is harmless.
                await persist(
                    lambda item=item: self.store.add_inbox(  # type: ignore[misc]
                        instance_id, item.execution_id, item.event, item.row_key
                    ),
                    what=f"recording a result for instance {instance_id}",
                    running=lambda: self._running,
                )
            live = await persist(
                lambda: self._reload(instance_id),
                what=f"reloading instance {instance_id}",
                running=lambda: self._running,
                wait_first=True,
            )
        except Stopped:
            return
        if live is not None:
            self._arm_outstanding(live)
            self._wake(instance_id)

    async def _reload(self, instance_id: str) -> Live | None:
        async with self._lock(instance_id):
            instance = await self.store.get_instance(instance_id)
            if instance is not None and instance.status in ACTIVE:
                return await self._load(instance)
            self._live.pop(instance_id, None)
            return None

    async def _load(self, instance: Instance) -> Live | None:
        """Read an unfinished instance back, finishing what a crash cut short."""
        iid = instance.instance_id
        rows = await self.store.load_history(iid, instance.execution_id)
        live = Live(instance, rows, await self.store.load_inbox(iid))
        ending = execution_ending(rows)
        if ending is not None:
            status, output_text, continue_input = ending
            if status == "ContinuedAsNew":
                self._live[iid] = live
                await self._continue_as_new(live, continue_input)
                return live
            instance.status, instance.output_text = status, output_text
            await self.store.put_instance(instance)
            return None
        self._live[iid] = live
        return live

    async def _episode(self, instance_id: str, *, create: bool = False) -> bool:
        live = self._live.get(instance_id)
        if live is None:
            return False
        instance = live.instance
        seen = {h.completion_key(r.event) for r in live.history} - {None}
        current: list[InboxItem] = []
        for item in live.inbox:
            key = h.completion_key(item.event)
            if item.execution_id == instance.execution_id and key not in seen:
                seen.add(key)  # a completion recorded twice is replayed once
                current.append(item)
        dropped = [i for i in live.inbox if i not in current]
        if live.history:
            chosen = choose_events([i.event for i in current], scheduling_rows(live.history))
            consumed = current[: len(chosen)]
            if not chosen:
                await self._forget_inbox(live, dropped)
                return False
        else:
            chosen = [
                h.execution_started(
                    instance.name, instance.input_text, instance_id, instance.execution_id
                )
            ]
            consumed = []
        now = h.utc_now()
        new_events = [h.orchestrator_started(now), *chosen]
        result = await self._call_orchestrator(instance, live.history, new_events)
        outcome = plan_episode(instance.name, live.history, new_events, result, now)
        # A copy until the write succeeds: status queries read memory, which must not
        # run ahead of storage.
        instance = dataclasses.replace(
            instance,
            custom_status_text=outcome.custom_status_text,
            updated=h.utc_now(),
            status="Running" if outcome.continued else outcome.status,
            output_text=instance.output_text if outcome.continued else outcome.output_text,
        )
        spent = dropped + consumed
        await self.store.commit(
            instance,
            len(live.history),
            outcome.rows,
            [i.row_key for i in spent if i.persisted],
            create=create,
        )
        live.instance = instance
        live.history.extend(outcome.rows)
        gone = {i.row_key for i in spent}
        live.inbox = [i for i in live.inbox if i.row_key not in gone]
        if outcome.continued:
            await self._continue_as_new(live, outcome.continue_input)
        if instance.status in TERMINAL:
            self._live.pop(instance_id, None)
        elif not outcome.continued:
            for event in outcome.activities:
                self.work.start_activity(instance_id, instance.execution_id, event)
            for event in outcome.timers:
                self.work.start_timer(instance_id, instance.execution_id, event)
        return True

    async def _call_orchestrator(
        self, instance: Instance, old: list[Row], new_events: list[Event]
    ) -> Any:
        spec = self.orchestrators.get(instance.name)
        if spec is None:
            return LookupError(f"orchestrator function '{instance.name}' is not defined")
        payload = context_json(instance.instance_id, instance.input_text, old, new_events)
        try:
            return await call_user_function(spec.callable, {str(spec.trigger["name"]): payload})
        except Exception as exc:  # the SDK reports orchestrator failures by raising
            return exc

    async def _continue_as_new(self, live: Live, new_input: str | None) -> None:
        instance = live.instance
        instance.execution_id = uuid.uuid4().hex
        instance.input_text = new_input
        instance.status = "Running"
        instance.output_text = None
        instance.updated = h.utc_now()
        await self.store.put_instance(instance)
        await self.store.delete_old_executions(instance.instance_id, instance.execution_id)
        live.history = []
        self._dirty.add(instance.instance_id)

    async def _forget_inbox(self, live: Live, items: list[InboxItem]) -> None:
        if not items:
            return
        written = [i.row_key for i in items if i.persisted]
        if written:
            await self.store.delete_inbox(live.instance.instance_id, written)
        gone = {i.row_key for i in items}
        live.inbox = [i for i in live.inbox if i.row_key not in gone]

    # Results from the work runner

    def _arm_outstanding(self, live: Live) -> None:
        instance = live.instance
        self.work.rearm(instance.instance_id, instance.execution_id, live.history, live.inbox)

    def _still_current(self, instance_id: str, execution_id: str) -> Live | None:
        live = self._live.get(instance_id)
        if live is None or live.instance.execution_id != execution_id:
            return None
        return live

    async def _deliver(self, instance_id: str, execution_id: str, item: InboxItem) -> None:
        """A completion now in the inbox: queue it for the instance's next episode."""
        # Under the lock: a concurrent reload may have replaced the in-memory state
        # (and may already have read this row back from storage).
        async with self._lock(instance_id):
            live = self._still_current(instance_id, execution_id)
            if live is None:
                return
            if all(i.row_key != item.row_key for i in live.inbox):
                live.inbox.append(item)
        self._wake(instance_id)
