"""POST /api/outbound: firm systems archive what they sent (function key required).

The body is validated with archive.outbound.parse_outbound (400 with a clear
message when invalid), then takes the same durable path as a webhook: envelope
onto `ingest`, record written by the orchestration. Later sent/delivered/read
statuses share the wamid, so the by-message index lists them together.
"""

from __future__ import annotations

import json

import azure.functions as func

from archive.identity import event_instance_id
from archive.outbound import OutboundError, parse_outbound
from ingest.front_door import hand_off
from ingest.responses import capped_body, error, json_response, log
from storage import settings

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.route(route="outbound", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def outbound_capture(req: func.HttpRequest) -> func.HttpResponse:
    try:
        return _capture(req)
    except settings.SettingError as exc:
        log.error("outbound capture misconfigured: %s", exc)
        return error(500, str(exc))


def _capture(req: func.HttpRequest) -> func.HttpResponse:
    body = capped_body(req, settings.max_webhook_bytes())
    if isinstance(body, func.HttpResponse):
        return body
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return error(400, "body must be a JSON object")
    try:
        event = parse_outbound(payload)
    except OutboundError as exc:
        return error(400, str(exc))
    _, failure = hand_off("outbound", body)
    if failure is not None:
        return failure
    instance_id = event_instance_id(event)
    log.info("outbound accepted instance=%s", instance_id)
    return json_response(
        202, {"status": "accepted", "message_id": event.message_id, "instance_id": instance_id}
    )
