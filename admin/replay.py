"""Replay failures: poison messages, failed orchestrations, media gaps and dead letters.

Ids: a poison queue message id; `orchestration:<instance id>` (restarted with its
original input through the Durable API); `media_unavailable:<row key>` (a refetch
request on `ingest`, see admin.gap_replay); `deadletter:<row key>` (the drained
message copied back to `ingest`, see admin.deadletter).

Poison messages: enqueue to `ingest` first, delete from poison only afterwards.

The order matters for a compliance archive: if the enqueue fails, the message stays in
poison (nothing lost); if the delete fails after a successful enqueue, the message is
replayed twice, which the pipeline absorbs (create-only records, deterministic names
and orchestration ids). Every enqueue has no expiry (time_to_live=-1): a message that
was acknowledged to the provider must not age out of the queue while it waits.

`before_item(kind, id)` runs before each item's side effect (the audit trail writes
its per-item entry there; if it raises, that item and the rest are not replayed), and
the result object passed as `into` fills up as items complete, so a caller still knows
what was done when the replay is interrupted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueMessage

import telemetry
from admin.connection import AdminError, Archive
from admin.deadletter import replay_deadletter
from admin.durable_api import DurableApi
from admin.failures import DEADLETTER_KIND
from admin.gap_replay import MEDIA_GAP_KIND, NO_EXPIRY, request_refetch
from archive.names import INGEST_POISON_QUEUE, INGEST_QUEUE

# Long enough to enqueue and delete one batch; a crash mid-way lets the rest reappear.
_HOLD_SECONDS = 60
_BATCH = 32
ORCHESTRATION = "orchestration"

Progress = Callable[[int, int | None], None]  # (done, total if known)
ItemHook = Callable[[str, str], None]  # (kind, id), before the item's side effect


@dataclass(frozen=True)
class ReplayResult:
    replayed: list[str] = field(default_factory=list)  # poison message ids now in `ingest`
    not_found: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)  # orchestration instance ids
    refetching: list[str] = field(default_factory=list)  # media-gap ids with a request queued
    requeued: list[str] = field(default_factory=list)  # dead-letter ids copied to `ingest`

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def done(self) -> int:
        return len(self.replayed) + len(self.restarted) + len(self.refetching) + len(
            self.requeued
        )


def _no_hook(kind: str, item_id: str) -> None:
    return None


def _replay_one(archive: Archive, message: QueueMessage) -> None:
    ingest = archive.queue(INGEST_QUEUE)
    poison = archive.queue(INGEST_POISON_QUEUE)
    archive.call(
        "queue", f"enqueue to '{INGEST_QUEUE}'",
        lambda: ingest.send_message(message.content, time_to_live=NO_EXPIRY),
    )
    archive.call(
        "queue",
        f"delete the replayed message from '{INGEST_POISON_QUEUE}'",
        lambda: poison.delete_message(message.id, message.pop_receipt),
    )


def _release(archive: Archive, message: QueueMessage) -> None:
    """Make a message we looked at but are not replaying visible again at once."""
    poison = archive.queue(INGEST_POISON_QUEUE)
    archive.call(
        "queue",
        f"release a message in '{INGEST_POISON_QUEUE}'",
        lambda: poison.update_message(message.id, message.pop_receipt, visibility_timeout=0),
    )


def _receive(archive: Archive) -> list[QueueMessage]:
    poison = archive.queue(INGEST_POISON_QUEUE)
    try:
        return archive.call(
            "queue",
            f"read queue '{INGEST_POISON_QUEUE}'",
            lambda: list(
                poison.receive_messages(
                    messages_per_page=_BATCH, max_messages=_BATCH,
                    visibility_timeout=_HOLD_SECONDS,
                )
            ),
        )
    except ResourceNotFoundError:
        return []


def _release_all(archive: Archive, held: dict[str, QueueMessage]) -> None:
    for message in held.values():
        _release(archive, message)


def replay_ids(
    archive: Archive,
    ids: list[str],
    progress: Progress | None = None,
    *,
    before_item: ItemHook = _no_hook,
    into: ReplayResult | None = None,
) -> ReplayResult:
    """Replay the poison messages with these queue message ids."""
    result = into if into is not None else ReplayResult()
    wanted = set(ids)
    held: dict[str, QueueMessage] = {}  # received, not replayed: released at the end
    try:
        while wanted:
            batch = _receive(archive)
            if not batch:
                break
            held.update((m.id, m) for m in batch)
            for message in batch:
                if message.id not in wanted:
                    continue
                before_item("poison", message.id)
                _replay_one(archive, message)
                del held[message.id]
                wanted.discard(message.id)
                result.replayed.append(message.id)
                telemetry.replayed("poison")
                if progress:
                    progress(len(result.replayed), len(ids))
    finally:
        _release_all(archive, held)
    result.not_found.extend(sorted(wanted))
    return result


def replay_all(
    archive: Archive,
    progress: Progress | None = None,
    *,
    before_item: ItemHook = _no_hook,
    into: ReplayResult | None = None,
) -> ReplayResult:
    """Replay every message in poison, batch by batch, with progress."""
    result = into if into is not None else ReplayResult()
    total: int | None
    try:
        props = archive.call(
            "queue", f"read the depth of '{INGEST_POISON_QUEUE}'",
            lambda: archive.queue(INGEST_POISON_QUEUE).get_queue_properties(),
        )
        total = int(props.approximate_message_count or 0)
    except ResourceNotFoundError:
        return result
    seen: set[str] = set()
    held: dict[str, QueueMessage] = {}
    try:
        while True:
            fresh = [m for m in _receive(archive) if m.id not in seen]
            if not fresh:
                break
            held.update((m.id, m) for m in fresh)
            for message in fresh:
                seen.add(message.id)
                before_item("poison", message.id)
                _replay_one(archive, message)
                del held[message.id]
                result.replayed.append(message.id)
                telemetry.replayed("poison")
                if progress:
                    progress(len(result.replayed), total)
    finally:
        _release_all(archive, held)
    return result


def _split(ids: list[str]) -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = {
        "poison": [], ORCHESTRATION: [], MEDIA_GAP_KIND: [], DEADLETTER_KIND: []
    }
    unknown: list[str] = []
    for item in ids:
        kind, _, rest = item.partition(":")
        if not rest:
            kinds["poison"].append(item)
        elif kind in kinds:
            kinds[kind].append(rest)
        else:
            unknown.append(item)
    if unknown:
        raise AdminError(f"cannot replay {', '.join(unknown)}: only poison messages, "
                         "orchestration:<id>, media_unavailable:<row> and deadletter:<row> "
                         "are replayable")
    return kinds


def replay(
    archive: Archive,
    *,
    ids: list[str] | None = None,
    all_poison: bool = False,
    progress: Progress | None = None,
    durable: DurableApi | None = None,
    who: str | None = None,
    before_item: ItemHook = _no_hook,
    into: ReplayResult | None = None,
) -> ReplayResult:
    result = into if into is not None else ReplayResult()
    if all_poison == bool(ids):
        raise AdminError("replay needs either message ids (--id) or --all-poison, not both")
    if all_poison:
        return replay_all(archive, progress, before_item=before_item, into=result)
    kinds = _split(ids or [])
    if kinds[ORCHESTRATION] and durable is None:
        raise AdminError("restarting an orchestration needs the Durable API: set "
                         "WA_DURABLE_API_URL and WA_DURABLE_API_KEY")
    for instance_id in kinds[ORCHESTRATION]:
        assert durable is not None
        before_item(ORCHESTRATION, instance_id)
        durable.restart(instance_id)
        result.restarted.append(instance_id)
        telemetry.replayed(ORCHESTRATION)
    for row_key in kinds[MEDIA_GAP_KIND]:
        before_item(MEDIA_GAP_KIND, row_key)
        request_refetch(archive, row_key, who=who or "unknown")
        result.refetching.append(f"{MEDIA_GAP_KIND}:{row_key}")
        telemetry.replayed(MEDIA_GAP_KIND)
    for row_key in kinds[DEADLETTER_KIND]:
        before_item(DEADLETTER_KIND, row_key)
        replay_deadletter(archive, row_key, who=who or "unknown")
        result.requeued.append(f"{DEADLETTER_KIND}:{row_key}")
        telemetry.replayed(DEADLETTER_KIND)
    if kinds["poison"]:
        replay_ids(archive, kinds["poison"], progress, before_item=before_item, into=result)
    return result
