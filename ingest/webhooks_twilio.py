"""Twilio (WhatsApp via Programmable Messaging) webhook: POST form bodies onto `ingest`.

Twilio signs the URL it called plus the form parameters (archive.twilio_signature).
Behind the Functions front end the request's Host is not what Twilio called, so the
URL is rebuilt from PUBLIC_BASE_URL, the route path and the request's own query
string. The body is archived verbatim; custody keeps the signature and the exact URL
it covers (`signed_url`), so it re-verifies with TWILIO_AUTH_TOKEN years later.
A body too malformed to compute a signature over (not UTF-8, not a strict form) can
never verify: 401. A body that verifies is stored even if the parser cannot use it.
Same order as Meta: 413, 401 (nothing stored), durable enqueue (503), 200.
"""

from __future__ import annotations

import urllib.parse

import azure.functions as func

from archive.custody import key_id, signed_url_fits
from archive.twilio_signature import TWILIO_SIGNATURE_HEADER, find_signed_url
from ingest.front_door import hand_off, metered, refused
from ingest.responses import capped_body, error
from storage import settings

ROUTE = "webhooks/twilio"
ROUTE_PATH = f"/api/{ROUTE}"
AUTHENTICATED_BY = "x-twilio-signature"
# Twilio reads a TwiML answer from a webhook's response; an empty one sends no reply.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.route(route=ROUTE, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def twilio_webhook(req: func.HttpRequest) -> func.HttpResponse:
    return await metered("twilio", "twilio webhook", lambda: _receive(req))


def public_url(base: str, request_url: str) -> str:
    """The URL Twilio called: the public base, the route path, the request's raw query."""
    query = urllib.parse.urlsplit(request_url).query
    return f"{base}{ROUTE_PATH}" + (f"?{query}" if query else "")


async def _receive(req: func.HttpRequest) -> func.HttpResponse:
    body = capped_body(req, settings.max_webhook_bytes())
    if isinstance(body, func.HttpResponse):
        return body
    tokens = settings.twilio_auth_tokens()
    url = public_url(settings.public_base_url(), req.url)
    signature = req.headers.get(TWILIO_SIGNATURE_HEADER)
    # A URL custody could not keep (too long, not printable ASCII) is never accepted.
    found = find_signed_url(body, signature, url, tokens) if signed_url_fits(url) else None
    if signature is None or found is None:
        refused("twilio webhook", body, "signature")
        return error(401, f"invalid or missing {TWILIO_SIGNATURE_HEADER}")
    signed_url, token = found
    envelope, failure = await hand_off(
        "twilio", body, signature.strip(), key_id(token),
        authenticated_by=AUTHENTICATED_BY, signed_url=signed_url,
    )
    if failure is not None:
        return failure
    return func.HttpResponse(
        EMPTY_TWIML, status_code=200, mimetype="text/xml",
        headers={"X-Archive-Sha256": envelope.sha256},
    )
