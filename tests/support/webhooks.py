"""Meta Cloud API webhook bodies in the documented shapes, plus signing."""

from __future__ import annotations

import json
from typing import Any

from archive.signature import sign

APP_SECRET = "test-app-secret-0123456789"
# The front door MACs outbound captures with this (CUSTODY_MAC_KEY).
CUSTODY_MAC_KEY = "test-custody-mac-key-0123456789abcdef"
RETIRED_SECRET = "old-rotated-app-secret-01"
VERIFY_TOKEN = "test-verify-token"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_NUMBER = "15550783881"
WABA_ID = "102290129340398"


def envelope(value: dict[str, Any]) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": PHONE_NUMBER_ID},
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}],
    }


def text_message(wamid: str, sender: str, ts: int, body: str = "hello") -> dict[str, Any]:
    return envelope(
        {
            "contacts": [{"profile": {"name": "Client"}, "wa_id": sender}],
            "messages": [
                {"from": sender, "id": wamid, "timestamp": str(ts), "type": "text",
                 "text": {"body": body}}
            ],
        }
    )


def image_message(
    wamid: str, sender: str, ts: int, media_id: str, sha256: str | None = None
) -> dict[str, Any]:
    image: dict[str, Any] = {"id": media_id, "mime_type": "image/jpeg", "caption": "a photo"}
    if sha256:
        image["sha256"] = sha256
    return envelope(
        {
            "contacts": [{"profile": {"name": "Client"}, "wa_id": sender}],
            "messages": [
                {"from": sender, "id": wamid, "timestamp": str(ts), "type": "image",
                 "image": image}
            ],
        }
    )


def status(wamid: str, recipient: str, value: str, ts: int) -> dict[str, Any]:
    return envelope(
        {
            "statuses": [
                {"id": wamid, "status": value, "timestamp": str(ts), "recipient_id": recipient}
            ]
        }
    )


def body_of(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode("utf-8")


def signed_headers(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": sign(body, secret), "Content-Type": "application/json"}
