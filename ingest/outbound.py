"""POST /api/outbound: firm systems archive what they sent (function key required).

The body is validated with archive.outbound.parse_outbound (400 with a clear
message when invalid), then takes the same durable path as a webhook: envelope
onto `ingest`, record written by the orchestration. Later sent/delivered/read
statuses share the wamid, so the by-message index lists them together.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import azure.functions as func

from archive.custody import key_id, outbound_mac
from archive.identity import event_instance_id
from archive.outbound import OutboundError, parse_outbound
from ingest.front_door import hand_off, metered
from ingest.responses import capped_body, error, json_response, log
from storage import settings

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.route(route="outbound", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def outbound_capture(req: func.HttpRequest) -> func.HttpResponse:
    return await metered("outbound", "outbound capture", lambda: _capture(req))


async def _capture(req: func.HttpRequest) -> func.HttpResponse:
    body = capped_body(req, settings.max_webhook_bytes())
    if isinstance(body, func.HttpResponse):
        return body
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return error(400, "body must be a JSON object")
    keys = settings.custody_mac_keys()
    received_at = datetime.now(UTC)
    try:
        event = parse_outbound(
            payload, allowed_senders=settings.outbound_senders(), received_at=received_at
        )
    except OutboundError as exc:
        return error(400, str(exc))
    # No provider signs an outbound capture: the front door's MAC (a key only the app
    # reads) lets custody checks prove later that the stored body is what was accepted.
    _, failure = await hand_off(
        "outbound", body, outbound_mac(body, keys[0]), key_id(keys[0]), received_at
    )
    if failure is not None:
        return failure
    instance_id = event_instance_id(event)
    log.info("outbound accepted instance=%s", instance_id)
    return json_response(
        202, {"status": "accepted", "message_id": event.message_id, "instance_id": instance_id}
    )
