"""Queue trigger on `ingest`: keep the raw body, split it into events, start orchestrations.

Per message: the verbatim body is written once to `raw` (create-only; its name is
the body's sha256 under the receive date, so a redelivered message is a harmless
duplicate), parsed, parse problems go to the failures table, and one orchestration
starts per canonical event with its deterministic instance id. An instance that
exists and is not Failed/Terminated/Canceled means the event is already being or
has been archived: nothing new starts. Any storage or start error raises, so the
queue redelivers (and after maxDequeueCount moves the message to `ingest-poison`).

A media-gap replay puts a refetch request (storage.refetch_request) on the same
queue; for it the worker starts the refetch_media orchestration instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import azure.durable_functions as df  # type: ignore[import-untyped,unused-ignore]
import azure.functions as func

from archive.events import CanonicalEvent
from archive.identity import event_instance_id
from archive.index import FailureKind, day_key, failure_entity
from archive.names import INGEST_QUEUE, RAW_CONTAINER, SETTING_ARCHIVE_STORAGE
from ingest.parsing import Parsed, parse_body
from orchestrations.archive_event import ORCHESTRATOR
from orchestrations.recovery import refetch_input, refetch_instance_id
from orchestrations.refetch_media import REFETCH_ORCHESTRATOR
from storage.blobs import create_only
from storage.clients import blob_service, table_service
from storage.envelope import Envelope, decode, load_body
from storage.index_writer import write_failure
from storage.refetch_request import RefetchRequest, decode_refetch

log = logging.getLogger("wa_archive.ingest")
RESTARTABLE = frozenset({"Failed", "Terminated", "Canceled"})
MAX_INLINE_EVENT_BYTES = 16 * 1024

bp = df.Blueprint()


def _failure_kind(problem: str, has_events: bool) -> FailureKind:
    if "webhook error" in problem:
        return "webhook_error"
    return "webhook_error" if has_events else "unparseable"


def prepare(envelope: Envelope) -> Parsed:
    """Storage side of one message (sync SDK): raw blob, parse, failure rows."""
    raw = blob_service().get_container_client(RAW_CONTAINER)
    body = load_body(envelope, raw)
    if not envelope.claim_checked:
        create_only(raw, envelope.raw_path, body)
    prepared = parse_body(envelope.source, body, envelope.received_at)
    if prepared.problems:
        tables = table_service()
        for index, problem in enumerate(prepared.problems):
            write_failure(
                tables,
                failure_entity(
                    _failure_kind(problem, bool(prepared.events)),
                    day=day_key(envelope.received_at),
                    ref=f"{envelope.raw_path}#{index}",
                    reason=problem,
                    detail={"raw_path": envelope.raw_path, "sha256": envelope.sha256,
                            "source": envelope.source, "events": len(prepared.events)},
                ),
            )
    return prepared


def orchestration_input(envelope: Envelope, event: CanonicalEvent, index: int) -> dict[str, Any]:
    """The orchestration's input; a very large event travels as a pointer into its raw body.

    Durable history stores every input and activity payload again; for an event bigger
    than MAX_INLINE_EVENT_BYTES only its ids and media list travel, and store_record
    re-parses the raw body (deterministic) to get the full event back.
    """
    event_json = event.to_dict()
    payload: dict[str, Any] = {
        "raw": {"path": envelope.raw_path, "sha256": envelope.sha256},
        "received_at": envelope.received_at.isoformat(),
    }
    if len(json.dumps(event_json)) > MAX_INLINE_EVENT_BYTES:
        event_json["content"] = {}
        event_json["fragment"] = {}
        payload["event_ref"] = {
            "source": envelope.source,
            "index": index,
            "instance_id": event_instance_id(event),
        }
    payload["event"] = event_json
    return payload


def _status_name(status: Any) -> str | None:
    if not status:
        return None
    runtime = getattr(status, "runtime_status", None)
    return getattr(runtime, "value", None) or (str(runtime) if runtime else None)


async def start_once(
    client: Any, instance_id: str, payload: dict[str, Any], orchestrator: str = ORCHESTRATOR
) -> bool:
    """Start the orchestration unless the instance already exists. True when started."""
    current = _status_name(await client.get_status(instance_id))
    if current is not None and current not in RESTARTABLE:
        return False
    try:
        await client.start_new(orchestrator, instance_id, payload)
    except Exception:
        # A parallel delivery may have started it between our check and our start.
        current = _status_name(await client.get_status(instance_id))
        if current is not None and current not in RESTARTABLE:
            return False
        raise
    return True


async def handle_envelope(envelope: Envelope, client: Any) -> tuple[int, int]:
    """Process one ingest envelope; returns (events started, events already known)."""
    prepared = await asyncio.to_thread(prepare, envelope)
    started = known = 0
    for index, event in enumerate(prepared.events):
        instance_id = event_instance_id(event)
        if await start_once(client, instance_id, orchestration_input(envelope, event, index)):
            started += 1
        else:
            known += 1
    log.info(
        "ingest processed sha256=%s events=%d started=%d known=%d problems=%d",
        envelope.sha256,
        len(prepared.events),
        started,
        known,
        len(prepared.problems),
    )
    return started, known


async def handle_refetch(request: RefetchRequest, client: Any) -> bool:
    """A media-gap replay: start (or restart, if it failed) its refetch_media instance."""
    instance_id = refetch_instance_id(request.record_path, request.media_id)
    payload = await asyncio.to_thread(refetch_input, request)
    started = await start_once(client, instance_id, payload, REFETCH_ORCHESTRATOR)
    log.info("ingest refetch instance=%s started=%s", instance_id, started)
    return started


@bp.queue_trigger(  # type: ignore[untyped-decorator]
    arg_name="msg", queue_name=INGEST_QUEUE, connection=SETTING_ARCHIVE_STORAGE
)
@bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
async def ingest_worker(msg: func.QueueMessage, client: Any) -> None:
    body = msg.get_body()
    refetch = decode_refetch(body)
    if refetch is not None:
        await handle_refetch(refetch, client)
        return
    await handle_envelope(decode(body), client)
