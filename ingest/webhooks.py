"""Meta Cloud API webhook: GET handshake, POST signed events onto the `ingest` queue.

Anonymous at the Functions level because Meta cannot send a function key: the
X-Hub-Signature-256 HMAC over the raw bytes is the authentication.
Order on POST: size cap (413) -> signature (401, nothing stored) -> durable enqueue
(503 if storage is unreachable) -> 200. Parsing happens behind the queue, so a
signed body that is not the expected JSON is still kept and flagged there.
"""

from __future__ import annotations

import hashlib

import azure.functions as func

from archive.custody import METHOD_META, verifying_key_id
from archive.meta.handshake import handshake_challenge
from archive.signature import SIGNATURE_HEADER
from ingest.front_door import hand_off, metered
from ingest.responses import capped_body, error, json_response, log, misconfigured
from storage import settings

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.route(
    route="webhooks/meta",
    methods=["GET", "POST"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
async def meta_webhook(req: func.HttpRequest) -> func.HttpResponse:
    if req.method.upper() == "GET":
        try:
            return _handshake(req)
        except settings.SettingError as exc:
            return misconfigured("webhook", exc)
    return await metered("meta", "webhook", lambda: _receive(req))


def _handshake(req: func.HttpRequest) -> func.HttpResponse:
    challenge = handshake_challenge(dict(req.params), settings.verify_token())
    if challenge is None:
        log.warning("webhook handshake refused")
        return error(403, "verification failed")
    return func.HttpResponse(
        challenge, status_code=200, mimetype="text/plain",
        headers={"X-Content-Type-Options": "nosniff"},
    )


async def _receive(req: func.HttpRequest) -> func.HttpResponse:
    body = capped_body(req, settings.max_webhook_bytes())
    if isinstance(body, func.HttpResponse):
        return body
    signature = req.headers.get(SIGNATURE_HEADER)
    key_id = verifying_key_id(METHOD_META, body, signature, settings.app_secrets())
    if signature is None or key_id is None:
        log.warning(
            "webhook signature rejected sha256=%s size=%d",
            hashlib.sha256(body).hexdigest(),
            len(body),
        )
        return error(401, "invalid or missing X-Hub-Signature-256")
    envelope, failure = await hand_off("meta", body, signature.strip(), key_id)
    if failure is not None:
        return failure
    return json_response(200, {"status": "accepted", "sha256": envelope.sha256})
