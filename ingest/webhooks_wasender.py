"""WASender webhook: POST signed-by-shared-secret events onto the `ingest` queue.

WASender's `X-Webhook-Signature` header carries the webhook secret itself (its docs
and both official SDKs compare it for plain equality; no HMAC). So the header is a
credential: it is compared in constant time with each configured secret (rotation)
and then dropped. What custody keeps is how the body was authenticated
(`x-webhook-signature`) and the front door's MAC over the body under CUSTODY_MAC_KEY.
The body's `sessionId` (the session API key, per WASender's docs) is replaced by a
marker before anything is stored (archive.wasender.redact).
Same order as Meta: 413, 401 (nothing stored), durable enqueue (503), 200.
"""

from __future__ import annotations

import hmac

import azure.functions as func

from archive.wasender.redact import redact_credentials
from ingest.front_door import mac_hand_off, metered, refused
from ingest.responses import capped_body, error, json_response
from storage import settings

WASENDER_SIGNATURE_HEADER = "X-Webhook-Signature"
AUTHENTICATED_BY = "x-webhook-signature"

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.route(route="webhooks/wasender", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def wasender_webhook(req: func.HttpRequest) -> func.HttpResponse:
    return await metered("wasender", "wasender webhook", lambda: _receive(req))


def secret_matches(presented: str | None, secrets: list[str]) -> bool:
    """Constant-time equality with any configured secret; every secret is compared."""
    if presented is None:
        return False
    given = presented.strip().encode("utf-8")
    matched = False
    for secret in secrets:
        if hmac.compare_digest(secret.encode("utf-8"), given):
            matched = True
    return matched


async def _receive(req: func.HttpRequest) -> func.HttpResponse:
    body = capped_body(req, settings.max_webhook_bytes())
    if isinstance(body, func.HttpResponse):
        return body
    secrets = settings.wasender_webhook_secrets()
    settings.custody_mac_keys()  # unusable MAC key: 500 before anything is compared
    if not secret_matches(req.headers.get(WASENDER_SIGNATURE_HEADER), secrets):
        refused("wasender webhook", body, "signature")
        return error(401, f"invalid or missing {WASENDER_SIGNATURE_HEADER}")
    # The envelope's sessionId is the session API key: it must never reach WORM storage.
    body, _ = redact_credentials(body)
    envelope, failure = await mac_hand_off("wasender", body, AUTHENTICATED_BY)
    if failure is not None:
        return failure
    return json_response(200, {"status": "accepted", "sha256": envelope.sha256})
