"""Task hub persistence in one Azurite table, one partition per instance.

`<hub>Instances`, PartitionKey = instance id:
  RowKey ""                       the instance row (status, input, output)
  RowKey `h~<executionId>.<index>` committed history, one event per row
  RowKey `i~<key>`                 completions recorded but not yet replayed

One partition per instance is what lets an episode commit as one entity-group
transaction: its history rows, the instance row and the deletion of the inbox rows
it consumed (see `commit`). Three tables would cost three calls per episode; Azure's
own Durable backends are billed differently (docs/cost.md), so this is devhost's
layout only. Instance queries filter `RowKey eq ''`.

Write order (see runtime.py) keeps a crash safe: an episode's history is written
no later than the instance row and the inbox deletions, and before its new work starts.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableErrorCode, TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient

from devhost.durable.history import Event, EventType, type_of

T = TypeVar("T")
BATCH_LIMIT = 100  # Table transactions hold at most 100 operations.
TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
ACTIVE = frozenset({"Pending", "Running"})


@dataclass
class Row:
    """One history event plus devhost's private bookkeeping (never shown to the SDK)."""

    event: Event
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Instance:
    instance_id: str
    name: str
    status: str
    execution_id: str
    input_text: str | None
    created: datetime
    updated: datetime
    output_text: str | None = None
    custom_status_text: str | None = None

    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": self.instance_id,
            "RowKey": "",
            "Name": self.name,
            "RuntimeStatus": self.status,
            "ExecutionId": self.execution_id,
            "CreatedTime": self.created,
            "LastUpdatedTime": self.updated,
        }
        for key, value in (
            ("Input", self.input_text),
            ("Output", self.output_text),
            ("CustomStatus", self.custom_status_text),
        ):
            if value is not None:
                entity[key] = value
        return entity

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> Instance:
        return cls(
            instance_id=str(entity["PartitionKey"]),
            name=str(entity["Name"]),
            status=str(entity["RuntimeStatus"]),
            execution_id=str(entity["ExecutionId"]),
            input_text=entity.get("Input"),
            created=entity["CreatedTime"],
            updated=entity["LastUpdatedTime"],
            output_text=entity.get("Output"),
            custom_status_text=entity.get("CustomStatus"),
        )


@dataclass(frozen=True)
class InboxItem:
    row_key: str
    execution_id: str
    event: Event
    # False: handed over in memory and not written; lost with the process, its work
    # is re-run from history (at least once), or written by runtime._recover.
    persisted: bool = True


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _odata_time(moment: datetime) -> str:
    return "datetime'" + moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + "'"


def instance_filter(
    statuses: Sequence[str] = (),
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    after_id: str | None = None,
    id_prefix: str | None = None,
) -> str:
    clauses = ["RowKey eq ''"]
    if statuses:
        clauses.append("(" + " or ".join(f"RuntimeStatus eq {_quote(s)}" for s in statuses) + ")")
    if created_from is not None:
        clauses.append(f"CreatedTime ge {_odata_time(created_from)}")
    if created_to is not None:
        clauses.append(f"CreatedTime le {_odata_time(created_to)}")
    if after_id is not None:
        clauses.append(f"PartitionKey gt {_quote(after_id)}")
    if id_prefix:
        clauses.append(f"PartitionKey ge {_quote(id_prefix)}")
        upper = id_prefix[:-1] + chr(ord(id_prefix[-1]) + 1)
        clauses.append(f"PartitionKey lt {_quote(upper)}")
    return " and ".join(clauses)


class CommitConflict(RuntimeError):
    """A create-only commit found the instance row already there."""


HISTORY = "h."
INBOX = "i."


def _history_key(execution_id: str, index: int) -> str:
    return f"{HISTORY}{execution_id}.{index:08d}"


def _inbox_key(row_key: str) -> str:
    return INBOX + row_key


def _prefix_filter(instance_id: str, prefix: str) -> str:
    """Rows of one partition whose RowKey starts with `prefix` (which ends in ".")."""
    return (
        f"PartitionKey eq {_quote(instance_id)} and RowKey ge {_quote(prefix)}"
        f" and RowKey lt {_quote(prefix[:-1] + '/')}"
    )


class TaskHubStore:
    """Async access to one task hub's table (see the module docstring for the row kinds)."""

    def __init__(self, connection_string: str, hub_name: str) -> None:
        self.table = TableClient.from_connection_string(
            connection_string, table_name=f"{hub_name}Instances"
        )

    async def create(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self.table.create_table()

    async def close(self) -> None:
        await self.table.close()

    # Instances

    async def get_instance(self, instance_id: str) -> Instance | None:
        try:
            entity = await self.table.get_entity(instance_id, "")
        except ResourceNotFoundError:
            return None
        return Instance.from_entity(dict(entity))

    async def put_instance(self, instance: Instance) -> None:
        await self.table.upsert_entity(instance.to_entity(), mode=UpdateMode.REPLACE)

    async def query_instances(self, query_filter: str, limit: int | None = None) -> list[Instance]:
        found: list[Instance] = []
        async for entity in self.table.query_entities(query_filter):
            found.append(Instance.from_entity(dict(entity)))
            if limit is not None and len(found) >= limit:
                break
        return found

    async def delete_instance(self, instance_id: str) -> None:
        """Delete history and inbox first, so a crash never leaves rows without an owner row."""
        keys = [
            str(e["RowKey"])
            async for e in self.table.query_entities(
                f"PartitionKey eq {_quote(instance_id)}", select=["RowKey"]
            )
        ]
        await self._delete_rows(instance_id, [k for k in keys if k])
        with contextlib.suppress(ResourceNotFoundError):
            await self.table.delete_entity(instance_id, "")

    async def delete_old_executions(self, instance_id: str, keep_execution: str) -> None:
        keep = f"{HISTORY}{keep_execution}."
        keys = [
            str(e["RowKey"])
            async for e in self.table.query_entities(
                _prefix_filter(instance_id, HISTORY), select=["RowKey"]
            )
            if not str(e["RowKey"]).startswith(keep)
        ]
        await self._delete_rows(instance_id, keys)

    # History

    async def load_history(self, instance_id: str, execution_id: str) -> list[Row]:
        """Committed history: rows after the last OrchestratorCompleted belong to an episode
        whose write was cut short, and are ignored (the episode is replayed)."""
        query = _prefix_filter(instance_id, f"{HISTORY}{execution_id}.")
        rows = [
            Row(json.loads(e["Event"]), json.loads(e.get("Meta") or "{}"))
            async for e in self.table.query_entities(query)
        ]
        last_complete = max(
            (i for i, r in enumerate(rows) if type_of(r.event) is EventType.OrchestratorCompleted),
            default=-1,
        )
        return rows[: last_complete + 1]

    @staticmethod
    def _history_entities(
        instance_id: str, execution_id: str, start: int, rows: Sequence[Row]
    ) -> list[dict[str, Any]]:
        return [
            {
                "PartitionKey": instance_id,
                "RowKey": _history_key(execution_id, start + offset),
                "EventType": int(row.event["EventType"]),
                "Event": json.dumps(row.event),
                "Meta": json.dumps(row.meta),
            }
            for offset, row in enumerate(rows)
        ]

    async def append_history(
        self, instance_id: str, execution_id: str, start: int, rows: Sequence[Row]
    ) -> None:
        entities = self._history_entities(instance_id, execution_id, start, rows)
        # Chunks commit in order; OrchestratorCompleted is last, so a torn write is ignored.
        for chunk in _chunks(entities, BATCH_LIMIT):
            await self.table.submit_transaction(
                [("upsert", entity, {"mode": UpdateMode.REPLACE}) for entity in chunk]
            )

    async def commit(
        self,
        instance: Instance,
        start: int,
        rows: Sequence[Row],
        consumed_inbox: Sequence[str] = (),
        *,
        create: bool = False,
    ) -> None:
        """An episode in one transaction: history rows, the instance row, consumed inbox rows.

        Over 100 operations it splits, in that order (a torn history write is ignored on
        load, and the instance row never runs ahead of its history). `create` makes the
        instance row create-only: CommitConflict if it exists, with nothing written.
        """
        iid = instance.instance_id
        ops: list[Any] = [
            ("upsert", e, {"mode": UpdateMode.REPLACE})
            for e in self._history_entities(iid, instance.execution_id, start, rows)
        ]
        ops.append(
            ("create", instance.to_entity())
            if create
            else ("upsert", instance.to_entity(), {"mode": UpdateMode.REPLACE})
        )
        ops += [("delete", {"PartitionKey": iid, "RowKey": _inbox_key(k)}) for k in consumed_inbox]
        for chunk in _chunks(ops, BATCH_LIMIT):
            try:
                await self.table.submit_transaction(list(chunk))
            except TableTransactionError as exc:
                code = getattr(exc, "error_code", None)
                if create and code == TableErrorCode.ENTITY_ALREADY_EXISTS:
                    # Rows of this new execution id that went in first are never loaded.
                    raise CommitConflict(iid) from None
                gone = [op for op in chunk if op[0] == "delete"]
                if not gone or code != TableErrorCode.RESOURCE_NOT_FOUND:
                    raise
                # An inbox row already deleted fails the whole batch: commit the rest alone.
                kept = [op for op in chunk if op[0] != "delete"]
                if kept:
                    await self.table.submit_transaction(kept)
                await self._delete_rows(iid, [str(op[1]["RowKey"]) for op in gone])

    # Inbox

    @staticmethod
    def new_inbox_key() -> str:
        """Time-ordered, so completions replay in arrival order."""
        return f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"

    async def add_inbox(
        self, instance_id: str, execution_id: str, event: Event, row_key: str | None = None
    ) -> InboxItem:
        # Upsert under a key chosen by the caller: a retry after an ambiguous failure
        # (written, but the answer was lost) cannot create a second copy.
        row_key = row_key or self.new_inbox_key()
        await self.table.upsert_entity(
            {
                "PartitionKey": instance_id,
                "RowKey": _inbox_key(row_key),
                "ExecutionId": execution_id,
                "Event": json.dumps(event),
            }
        )
        return InboxItem(row_key, execution_id, event)

    async def load_inbox(self, instance_id: str) -> list[InboxItem]:
        items = [
            InboxItem(str(e["RowKey"])[len(INBOX) :], str(e["ExecutionId"]), json.loads(e["Event"]))
            async for e in self.table.query_entities(_prefix_filter(instance_id, INBOX))
        ]
        return sorted(items, key=lambda item: item.row_key)

    async def delete_inbox(self, instance_id: str, row_keys: Iterable[str]) -> None:
        await self._delete_rows(instance_id, [_inbox_key(k) for k in row_keys])

    async def _delete_rows(self, partition: str, row_keys: list[str]) -> None:
        for chunk in _chunks(row_keys, BATCH_LIMIT):
            try:
                await self.table.submit_transaction(
                    [("delete", {"PartitionKey": partition, "RowKey": key}) for key in chunk]
                )
            except Exception:  # a row already gone fails the whole batch; go one by one
                for key in chunk:
                    with contextlib.suppress(ResourceNotFoundError):
                        await self.table.delete_entity(partition, key)


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
