"""`show` presents the provider-signed record, not a capture that reuses its wamid (issue 21.2).

Seeded through the pipeline's own code on real Azurite: a signed Meta webhook and an
outbound capture that claims the same wamid with an earlier time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from admin.connection import Archive
from admin.detail import message_detail
from tests.admin import seed
from tests.support import webhooks
from tests.support.envelopes import outbound_envelope

pytestmark = pytest.mark.azurite


def _capture(wamid: str, customer: str, when: datetime) -> bytes:
    return json.dumps({
        "message_id": wamid, "to": customer, "from": seed.BUSINESS, "type": "text",
        "timestamp": when.isoformat(), "content": {"text": "forged words"},
    }).encode()


def test_earlier_capture_with_an_inbound_wamid_is_not_the_main_record(archive: Archive) -> None:
    now = datetime.now(UTC)
    customer = seed.new_customer()
    wamid = seed.new_wamid()
    signed_at = now - timedelta(hours=1)
    seed.archive_body(webhooks.text_message(wamid, customer, int(signed_at.timestamp())))
    capture_paths = seed.archive_envelope(
        outbound_envelope(_capture(wamid, customer, now - timedelta(hours=2)), now)
    )
    assert len(capture_paths) == 1
    detail = message_detail(archive, wamid)
    assert len([e for e in detail.events if e.get("event") == "message"]) == 2
    assert detail.record is not None
    assert detail.record["direction"] == "inbound"
    assert detail.record["content"].get("captured_via") is None
    assert detail.record_path != capture_paths[0]


def test_a_capture_alone_is_still_shown(archive: Archive) -> None:
    now = datetime.now(UTC)
    wamid = seed.new_wamid()
    (path,) = seed.archive_envelope(
        outbound_envelope(_capture(wamid, seed.new_customer(), now), now)
    )
    detail = message_detail(archive, wamid)
    assert detail.record_path == path
    assert detail.record is not None
    assert detail.record["content"]["captured_via"] == "outbound_api"
