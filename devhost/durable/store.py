"""Task hub persistence in Azurite tables.

`<hub>Instances`  one row per instance (PartitionKey = instance id, RowKey "").
`<hub>History`    committed history, RowKey `<executionId>.<index>`, one event per row.
`<hub>Inbox`      completions recorded but not yet replayed (activity results, fired timers).

Write order (see runtime.py) keeps a crash safe: a completion is written to the
inbox before it counts; an episode's history is written before the inbox rows
it consumed are deleted and before its new work is started.
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
from azure.data.tables import UpdateMode
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


class TaskHubStore:
    """Async access to one task hub's three tables."""

    def __init__(self, connection_string: str, hub_name: str) -> None:
        def table(suffix: str) -> TableClient:
            return TableClient.from_connection_string(
                connection_string, table_name=f"{hub_name}{suffix}"
            )

        self.instances = table("Instances")
        self.history = table("History")
        self.inbox = table("Inbox")

    async def create(self) -> None:
        for client in (self.instances, self.history, self.inbox):
            with contextlib.suppress(ResourceExistsError):
                await client.create_table()

    async def close(self) -> None:
        for client in (self.instances, self.history, self.inbox):
            await client.close()

    # Instances

    async def get_instance(self, instance_id: str) -> Instance | None:
        try:
            entity = await self.instances.get_entity(instance_id, "")
        except ResourceNotFoundError:
            return None
        return Instance.from_entity(dict(entity))

    async def put_instance(self, instance: Instance) -> None:
        await self.instances.upsert_entity(instance.to_entity(), mode=UpdateMode.REPLACE)

    async def query_instances(self, query_filter: str, limit: int | None = None) -> list[Instance]:
        found: list[Instance] = []
        async for entity in self.instances.query_entities(query_filter):
            found.append(Instance.from_entity(dict(entity)))
            if limit is not None and len(found) >= limit:
                break
        return found

    async def delete_instance(self, instance_id: str) -> None:
        """Delete history and inbox first, so a crash never leaves rows without an owner row."""
        for client in (self.history, self.inbox):
            keys = [
                str(e["RowKey"])
                async for e in client.query_entities(
                    f"PartitionKey eq {_quote(instance_id)}", select=["RowKey"]
                )
            ]
            await self._delete_rows(client, instance_id, keys)
        with contextlib.suppress(ResourceNotFoundError):
            await self.instances.delete_entity(instance_id, "")

    async def delete_old_executions(self, instance_id: str, keep_execution: str) -> None:
        keys = [
            str(e["RowKey"])
            async for e in self.history.query_entities(
                f"PartitionKey eq {_quote(instance_id)}", select=["RowKey"]
            )
            if not str(e["RowKey"]).startswith(keep_execution + ".")
        ]
        await self._delete_rows(self.history, instance_id, keys)

    # History

    async def load_history(self, instance_id: str, execution_id: str) -> list[Row]:
        """Committed history: rows after the last OrchestratorCompleted belong to an episode
        whose write was cut short, and are ignored (the episode is replayed)."""
        query = (
            f"PartitionKey eq {_quote(instance_id)} and RowKey ge {_quote(execution_id + '.')}"
            f" and RowKey lt {_quote(execution_id + '/')}"
        )
        rows = [
            Row(json.loads(e["Event"]), json.loads(e.get("Meta") or "{}"))
            async for e in self.history.query_entities(query)
        ]
        last_complete = max(
            (i for i, r in enumerate(rows) if type_of(r.event) is EventType.OrchestratorCompleted),
            default=-1,
        )
        return rows[: last_complete + 1]

    async def append_history(
        self, instance_id: str, execution_id: str, start: int, rows: Sequence[Row]
    ) -> None:
        entities = [
            {
                "PartitionKey": instance_id,
                "RowKey": f"{execution_id}.{start + offset:08d}",
                "EventType": int(row.event["EventType"]),
                "Event": json.dumps(row.event),
                "Meta": json.dumps(row.meta),
            }
            for offset, row in enumerate(rows)
        ]
        # Chunks commit in order; OrchestratorCompleted is last, so a torn write is ignored.
        for chunk in _chunks(entities, BATCH_LIMIT):
            await self.history.submit_transaction(
                [("upsert", entity, {"mode": UpdateMode.REPLACE}) for entity in chunk]
            )

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
        await self.inbox.upsert_entity(
            {
                "PartitionKey": instance_id,
                "RowKey": row_key,
                "ExecutionId": execution_id,
                "Event": json.dumps(event),
            }
        )
        return InboxItem(row_key, execution_id, event)

    async def load_inbox(self, instance_id: str) -> list[InboxItem]:
        items = [
            InboxItem(str(e["RowKey"]), str(e["ExecutionId"]), json.loads(e["Event"]))
            async for e in self.inbox.query_entities(f"PartitionKey eq {_quote(instance_id)}")
        ]
        return sorted(items, key=lambda item: item.row_key)

    async def delete_inbox(self, instance_id: str, row_keys: Iterable[str]) -> None:
        await self._delete_rows(self.inbox, instance_id, list(row_keys))

    @staticmethod
    async def _delete_rows(client: TableClient, partition: str, row_keys: list[str]) -> None:
        for chunk in _chunks(row_keys, BATCH_LIMIT):
            try:
                await client.submit_transaction(
                    [("delete", {"PartitionKey": partition, "RowKey": key}) for key in chunk]
                )
            except Exception:  # a row already gone fails the whole batch; go one by one
                for key in chunk:
                    with contextlib.suppress(ResourceNotFoundError):
                        await client.delete_entity(partition, key)


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
