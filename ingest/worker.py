"""Queue trigger on `ingest`: keep the raw body, split it into events, start orchestrations.

Per message: the envelope is re-verified first (raw name recomputed, body hashed,
signature checked with the configured secrets); anything that fails goes to
`quarantine` with a failures row and never reaches `raw` or `records`. Then the
verbatim body is written once to `raw` (create-only, with its custody as metadata; its name is
the body's sha256 under the receive date, so a redelivered message is a harmless
duplicate), parsed, parse problems go to the failures table, and one orchestration
starts per canonical event with its deterministic instance id. An instance that
exists and is not Failed/Terminated/Canceled means the event is already being or
has been archived: nothing new starts. (That status read is skipped when this
delivery created the raw body: see start_once.) Any storage or start error raises, so the
queue redelivers (and after maxDequeueCount moves the message to `ingest-poison`).

A media-gap replay puts a refetch request (storage.refetch_request) on the same
queue; for it the worker starts the refetch_media orchestration instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df  # type: ignore[import-untyped,unused-ignore]
import azure.functions as func
from azure.storage.blob import ContainerClient

from archive.custody import METHOD_OF_SOURCE, Custody, CustodyError, custody_key_id
from archive.events import CanonicalEvent
from archive.identity import event_instance_id
from archive.index import FailureKind, day_key, failure_entity
from archive.layout import raw_blob_name
from archive.names import INGEST_QUEUE, RAW_CONTAINER, SETTING_ARCHIVE_STORAGE
from archive.parsing import Parsed, event_skeleton, parse_body
from orchestrations.archive_event import ORCHESTRATOR
from orchestrations.recovery import refetch_input, refetch_instance_id
from orchestrations.refetch_media import REFETCH_ORCHESTRATOR
from storage.clients import blob_service, table_service
from storage.envelope import Envelope, EnvelopeError, decode, encode, load_body
from storage.index_writer import write_failure
from storage.quarantine import quarantine
from storage.raw_bodies import custody_secrets, store_raw
from storage.refetch_request import RefetchRequest, decode_refetch, encode_refetch

log = logging.getLogger("wa_archive.ingest")
RESTARTABLE = frozenset({"Failed", "Terminated", "Canceled"})

bp = df.Blueprint()


def _failure_kind(problem: str, has_events: bool) -> FailureKind:
    if "webhook error" in problem:
        return "webhook_error"
    return "webhook_error" if has_events else "unparseable"


def verify_envelope(envelope: Envelope, raw: ContainerClient) -> tuple[bytes, Custody]:
    """Re-check everything the envelope claims; CustodyError names the first lie found.

    Anyone with Queue Sender on `ingest` can write an envelope, so none of it is taken
    on trust: the raw name is recomputed, the body hashed, and the signature verified
    with the configured secrets (current and rotated) before anything is parsed.
    """
    if raw_blob_name(envelope.sha256, envelope.received_at) != envelope.raw_path:
        raise CustodyError("envelope raw_path is not the name its sha256 and time give")
    try:
        body = load_body(envelope, raw)
    except EnvelopeError:
        raise CustodyError("claim-check blob does not match the envelope's sha256") from None
    if hashlib.sha256(body).hexdigest() != envelope.sha256:
        raise CustodyError("inline body does not match the envelope's sha256")
    method = METHOD_OF_SOURCE[envelope.source]
    claimed = Custody(
        method, envelope.signature, "", envelope.received_at,
        authenticated_by=envelope.authenticated_by, signed_url=envelope.signed_url,
    )
    key = custody_key_id(claimed, body, custody_secrets(method))
    if key is None:
        raise CustodyError("body does not verify with any configured secret")
    return body, replace(claimed, key_id=key)


def prepare(envelope: Envelope) -> Parsed:
    """Storage side of one message (sync SDK): verify, raw blob, parse, failure rows.

    Raises CustodyError (the caller quarantines) before anything reaches `raw`.
    """
    return prepare_body(envelope)[0]


def prepare_body(envelope: Envelope) -> tuple[Parsed, bool]:
    """:func:`prepare`, and whether this call created the raw body (its first delivery).

    Only a create-only PUT that answered 201 says so. A claim-checked body was written
    by the front door, so the worker cannot tell a redelivery: False, as for a 409.
    """
    raw = blob_service().get_container_client(RAW_CONTAINER)
    body, custody = verify_envelope(envelope, raw)
    created = False
    if not envelope.claim_checked:
        created = store_raw(raw, envelope.raw_path, body, custody, envelope.source)
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
    return prepared, created


def orchestration_input(envelope: Envelope, event: CanonicalEvent, index: int) -> dict[str, Any]:
    """The orchestration's input: ids, the raw pointer and the media list, never content.

    store_record re-derives the event from the verified raw body, so the input cannot
    put words into a record, and message content stays out of Durable history (which
    lives in the host account: no WORM, no customer-managed key, never purged).
    """
    return {
        "raw": {"path": envelope.raw_path, "sha256": envelope.sha256},
        "received_at": envelope.received_at.isoformat(),
        "event_ref": {
            "source": envelope.source,
            "index": index,
            "instance_id": event_instance_id(event),
        },
        "event": event_skeleton(event),
    }


def quarantine_message(message: bytes, reason: str, detail: dict[str, Any]) -> None:
    quarantine(
        blob_service(), table_service(), message,
        reason=reason, origin="ingest-queue", at=datetime.now(UTC), detail=detail,
    )


def _status_name(status: Any) -> str | None:
    if not status:
        return None
    runtime = getattr(status, "runtime_status", None)
    return getattr(runtime, "value", None) or (str(runtime) if runtime else None)


async def start_once(
    client: Any, instance_id: str, payload: dict[str, Any], orchestrator: str = ORCHESTRATOR,
    *, fresh_body: bool = False,
) -> bool:
    """Start the orchestration unless the instance already exists. True when started.

    The status read before the start is what keeps a redelivered body from restarting
    a Completed instance (start_new replaces one). `fresh_body` (this delivery just
    created the raw body: 201) skips it, one storage call less per event: no earlier
    delivery of these bytes exists. The same event can still come in a different body
    (other bytes, so also 201); start_new then re-runs its Completed instance, and
    store_record finds its record by fingerprint (the instance id is derived from it)
    and classifies it a duplicate: still one record, no conflict row.
    """
    if not fresh_body:
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
    try:
        prepared, fresh_body = await asyncio.to_thread(prepare_body, envelope)
    except CustodyError as exc:
        await asyncio.to_thread(
            quarantine_message,
            encode(envelope, inline=not envelope.claim_checked).encode("utf-8"),
            exc.reason, {"claimed_sha256": envelope.sha256, "source": envelope.source},
        )
        return 0, 0
    started = known = 0
    for index, event in enumerate(prepared.events):
        instance_id = event_instance_id(event)
        payload = orchestration_input(envelope, event, index)
        if await start_once(client, instance_id, payload, fresh_body=fresh_body):
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
    try:
        payload = await asyncio.to_thread(refetch_input, request)
    except CustodyError as exc:
        await asyncio.to_thread(
            quarantine_message, encode_refetch(request).encode("utf-8"), exc.reason,
            {"kind": "refetch-request"},
        )
        return False
    started = await start_once(client, instance_id, payload, REFETCH_ORCHESTRATOR)
    log.info("ingest refetch instance=%s started=%s", instance_id, started)
    return started


@bp.queue_trigger(  # type: ignore[untyped-decorator]
    arg_name="msg", queue_name=INGEST_QUEUE, connection=SETTING_ARCHIVE_STORAGE
)
@bp.durable_client_input(client_name="client")  # type: ignore[untyped-decorator]
async def ingest_worker(msg: func.QueueMessage, client: Any) -> None:
    await handle_message(msg.get_body(), client)


async def handle_message(body: bytes, client: Any) -> None:
    """One `ingest` message: a refetch request, an envelope, or something to quarantine."""
    refetch = decode_refetch(body)
    if refetch is not None:
        await handle_refetch(refetch, client)
        return
    try:
        envelope = decode(body)
    except EnvelopeError as exc:
        # Not something the front door wrote: keep it aside, never parse it.
        await asyncio.to_thread(quarantine_message, body, str(exc), {})
        return
    await handle_envelope(envelope, client)
