"""Replay failures: poison messages, failed orchestrations and media gaps.

Ids: a poison queue message id; `orchestration:<instance id>` (restarted with its
original input through the Durable API); `media_unavailable:<row key>` (a refetch
request on `ingest`, see admin.gap_replay).

Poison messages: enqueue to `ingest` first, delete from poison only afterwards.

The order matters for a compliance archive: if the enqueue fails, the message stays in
poison (nothing lost); if the delete fails after a successful enqueue, the message is
replayed twice, which the pipeline absorbs (create-only records, deterministic names
and orchestration ids).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueMessage

from admin.connection import AdminError, Archive
from admin.durable_api import DurableApi
from admin.gap_replay import MEDIA_GAP_KIND, request_refetch
from archive.names import INGEST_POISON_QUEUE, INGEST_QUEUE

# Long enough to enqueue and delete one batch; a crash mid-way lets the rest reappear.
_HOLD_SECONDS = 60
_BATCH = 32

Progress = Callable[[int, int | None], None]  # (done, total if known)


@dataclass(frozen=True)
class ReplayResult:
    replayed: list[str]  # poison message ids now back in `ingest`
    not_found: list[str]
    restarted: list[str] = field(default_factory=list)  # orchestration instance ids
    refetching: list[str] = field(default_factory=list)  # media-gap ids with a request queued

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _replay_one(archive: Archive, message: QueueMessage) -> None:
    ingest = archive.queue(INGEST_QUEUE)
    poison = archive.queue(INGEST_POISON_QUEUE)
    archive.call(
        "queue", f"enqueue to '{INGEST_QUEUE}'", lambda: ingest.send_message(message.content)
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


def replay_ids(
    archive: Archive, ids: list[str], progress: Progress | None = None
) -> ReplayResult:
    """Replay the poison messages with these queue message ids."""
    wanted = set(ids)
    replayed: list[str] = []
    held: list[QueueMessage] = []
    try:
        while wanted:
            batch = _receive(archive)
            if not batch:
                break
            for message in batch:
                if message.id in wanted:
                    _replay_one(archive, message)
                    wanted.discard(message.id)
                    replayed.append(message.id)
                    if progress:
                        progress(len(replayed), len(ids))
                else:
                    held.append(message)
    finally:
        for message in held:
            _release(archive, message)
    return ReplayResult(replayed=replayed, not_found=sorted(wanted))


def replay_all(archive: Archive, progress: Progress | None = None) -> ReplayResult:
    """Replay every message in poison, batch by batch, with progress."""
    total: int | None
    try:
        props = archive.call(
            "queue", f"read the depth of '{INGEST_POISON_QUEUE}'",
            lambda: archive.queue(INGEST_POISON_QUEUE).get_queue_properties(),
        )
        total = int(props.approximate_message_count or 0)
    except ResourceNotFoundError:
        return ReplayResult(replayed=[], not_found=[])
    replayed: list[str] = []
    seen: set[str] = set()
    while True:
        batch = _receive(archive)
        fresh = [m for m in batch if m.id not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message.id)
            _replay_one(archive, message)
            replayed.append(message.id)
            if progress:
                progress(len(replayed), total)
    return ReplayResult(replayed=replayed, not_found=[])


def replay(
    archive: Archive,
    *,
    ids: list[str] | None = None,
    all_poison: bool = False,
    progress: Progress | None = None,
    durable: DurableApi | None = None,
    who: str | None = None,
) -> ReplayResult:
    if all_poison == bool(ids):
        raise AdminError("replay needs either message ids (--id) or --all-poison, not both")
    if all_poison:
        return replay_all(archive, progress)
    orchestrations = [i.split(":", 1)[1] for i in ids or () if i.startswith("orchestration:")]
    gaps = [i.split(":", 1)[1] for i in ids or () if i.startswith(f"{MEDIA_GAP_KIND}:")]
    poison = [i for i in ids or () if ":" not in i]
    unknown = [i for i in ids or () if ":" in i and i.split(":", 1)[0] not in
               ("orchestration", MEDIA_GAP_KIND)]
    if unknown:
        raise AdminError(f"cannot replay {', '.join(unknown)}: only poison messages, "
                         "orchestration:<id> and media_unavailable:<row> are replayable")
    if orchestrations and durable is None:
        raise AdminError("restarting an orchestration needs the Durable API: set "
                         "WA_DURABLE_API_URL and WA_DURABLE_API_KEY")
    restarted: list[str] = []
    for instance_id in orchestrations:
        assert durable is not None
        durable.restart(instance_id)
        restarted.append(instance_id)
    refetching: list[str] = []
    for row_key in gaps:
        request_refetch(archive, row_key, who=who or "unknown")
        refetching.append(f"{MEDIA_GAP_KIND}:{row_key}")
    result = replay_ids(archive, poison, progress) if poison else ReplayResult([], [])
    return ReplayResult(result.replayed, result.not_found, restarted, refetching)
