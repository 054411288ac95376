"""Azure Communication Services Advanced Messaging, delivered by Event Grid.

OPTIONS: the CloudEvents 1.0 abuse-protection handshake (`WebHook-Request-Origin` in,
`WebHook-Allowed-Origin` out). It stores nothing and grants nothing but delivery, so
it is answered without authentication (Event Grid's handshake may carry no token).

POST: authenticated by storage.acs_auth (an Entra ID bearer token Event Grid obtains
for ACS_WEBHOOK_AUDIENCE, or the `secret` query parameter of the subscription URL),
then:
- an Event Grid `SubscriptionValidationEvent` is answered with its validation code and
  not archived (it carries no message);
- anything else (Event Grid schema array, one CloudEvent, or a CloudEvents batch) is
  archived verbatim. The token or URL secret is a credential and is never kept:
  custody records how the delivery was authenticated plus the front door's MAC.
Same order as Meta: 413, 401 (nothing stored), durable enqueue (503), 200.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import azure.functions as func

from archive.custody import AUTHENTICATED_BY, METHOD_ACS
from ingest.front_door import mac_hand_off, metered, refused
from ingest.responses import capped_body, error, json_response, log, misconfigured
from storage import settings

bp = func.Blueprint()  # type: ignore[no-untyped-call]
# Only the authentication step runs here (the hand-off itself is async, on the loop).
_AUTH = ThreadPoolExecutor(2, thread_name_prefix="acs-auth")


@bp.route(route="webhooks/acs", methods=["POST", "OPTIONS"], auth_level=func.AuthLevel.ANONYMOUS)
async def acs_webhook(req: func.HttpRequest) -> func.HttpResponse:
    if req.method.upper() == "OPTIONS":
        try:
            return _abuse_protection(req)
        except settings.SettingError as exc:
            return misconfigured("acs webhook", exc)
    return await metered("acs", "acs webhook", lambda: _receive(req))


def _abuse_protection(req: func.HttpRequest) -> func.HttpResponse:
    from archive.acs.handshake import options_response_headers

    headers = options_response_headers(dict(req.headers))
    if headers is None:
        log.warning("acs webhook handshake refused")
        return error(400, "not a CloudEvents abuse-protection request")
    return func.HttpResponse(status_code=200, headers=headers)


def _authenticated_by(req: func.HttpRequest) -> str | None:
    from storage.acs_auth import authenticate_acs

    how = authenticate_acs(dict(req.headers), dict(req.params))
    # Only a mechanism custody knows is accepted (and it is all custody keeps of it).
    return how if how in AUTHENTICATED_BY[METHOD_ACS] else None


async def _receive(req: func.HttpRequest) -> func.HttpResponse:
    body = capped_body(req, settings.max_webhook_bytes())
    if isinstance(body, func.HttpResponse):
        return body
    settings.custody_mac_keys()  # unusable MAC key: 500 before anything else
    from storage.acs_auth import KeysUnavailable

    try:
        # May fetch Entra ID's signing keys (a blocking HTTPS call, cached): off the loop,
        # on threads of its own, not the worker's shared pool (queue triggers and
        # activities may sit there in storage retries while the archive account is down).
        how = await asyncio.get_running_loop().run_in_executor(_AUTH, _authenticated_by, req)
    except KeysUnavailable:
        # The token cannot be judged without the issuer's keys: not a 401 (Event Grid may
        # drop a 4xx delivery), a 503 so it is redelivered once Entra answers again.
        log.warning("acs webhook signing keys unavailable; answered 503")
        return error(503, "delivery authentication is unavailable; retry later",
                     {"Retry-After": "30"})
    if how is None:
        refused("acs webhook", body, "authentication")
        return error(401, "invalid or missing Event Grid delivery authentication")
    from archive.acs.handshake import validation_response

    answer = validation_response(body)
    if answer is not None:
        log.info("acs webhook subscription validated by=%s", how)
        return func.HttpResponse(answer, status_code=200, mimetype="application/json")
    envelope, failure = await mac_hand_off("acs", body, how)
    if failure is not None:
        return failure
    return json_response(200, {"status": "accepted", "sha256": envelope.sha256})
