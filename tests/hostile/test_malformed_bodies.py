"""Signed bodies that are not a usable webhook: 200, kept verbatim in `raw`, flagged."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from azure.storage.blob import BlobServiceClient

from archive.names import RECORDS_CONTAINER
from storage.clients import table_service
from storage.index_reader import IndexReader
from tests.hostile.flow import archive_signed, read_raw
from tests.support import webhooks

pytestmark = pytest.mark.azurite


def valid_body() -> bytes:
    wamid = f"wamid.{uuid.uuid4().hex}"
    return webhooks.body_of(webhooks.text_message(wamid, "15551234567", 1764158400))


def nonce() -> bytes:
    return uuid.uuid4().hex.encode()  # every body unique, so every raw name is fresh


MALFORMED = {
    "deeply-nested-arrays": lambda: b"[" * 100_000 + nonce() + b"]" * 100_000,
    "nested-just-over-limit": lambda: b'{"a":' * 65 + b'"' + nonce() + b'"' + b"}" * 65,
    "invalid-utf8": lambda: b'{"object":"whatsapp_business_account","x":"\xff\xfe\xc3"}' + nonce(),
    "overlong-utf8-slash": lambda: b'{"object":"\xc0\xaf","n":"' + nonce() + b'"}',
    "utf16-json": lambda: json.dumps({"object": "whatsapp", "n": nonce().decode()}).encode(
        "utf-16"
    ),
    "truncated-json": lambda: valid_body()[:-17],
    "truncated-mid-escape": lambda: b'{"object":"whatsapp_business_account","n":"' + nonce()
    + b'\\u12',
    "nan-literal": lambda: valid_body().replace(b'"1764158400"', b"NaN"),
    "huge-integer": lambda: valid_body().replace(b'"1764158400"', b"9" * 5000),
    "nul-bytes": lambda: b"\x00" * 64 + nonce(),
    "empty": lambda: b"",
    "json-scalar": lambda: b'"' + nonce() + b'"',
    "utf8-bom": lambda: b"\xef\xbb\xbf" + valid_body(),
}


@pytest.mark.parametrize("make_body", MALFORMED.values(), ids=MALFORMED.keys())
def test_signed_malformed_body_is_kept_raw_and_flagged(conn: str, make_body: object) -> None:
    body: bytes = make_body()  # type: ignore[operator]
    archived = archive_signed(body)

    envelope = archived.envelope
    # Inline in the queue message (base64 when not UTF-8), or claim-checked when big.
    assert envelope.body == body or (envelope.claim_checked and len(body) > 40_000)
    stored = read_raw(conn, envelope.raw_path)
    assert stored == body and hashlib.sha256(stored).hexdigest() == envelope.sha256

    assert archived.parsed.events == () and archived.parsed.problems
    assert archived.stored == []
    failures = IndexReader(table_service()).failures("unparseable", page_size=1000).rows
    mine = [row for row in failures if row["ref"].startswith(envelope.raw_path + "#")]
    assert len(mine) == len(archived.parsed.problems)
    detail = json.loads(mine[0]["detail"])
    assert detail["sha256"] == envelope.sha256 and detail["raw_path"] == envelope.raw_path


def test_redelivered_malformed_body_is_one_raw_blob_and_one_flag(conn: str) -> None:
    body = b"[" * 5000 + nonce()
    first = archive_signed(body)
    second = archive_signed(body)
    assert first.envelope.sha256 == second.envelope.sha256
    failures = IndexReader(table_service()).failures("unparseable", page_size=1000).rows
    assert len([r for r in failures if r["ref"].startswith(first.envelope.raw_path + "#")]) == 1


def test_valid_events_beside_a_broken_change_are_archived_and_the_break_flagged(
    conn: str,
) -> None:
    wamid = f"wamid.{uuid.uuid4().hex}"
    doc = webhooks.text_message(wamid, "15551234567", 1764158400)
    doc["entry"][0]["changes"].append({"field": "messages", "value": "not an object"})
    doc["entry"].append(42)
    archived = archive_signed(json.dumps(doc).encode())

    assert [s["state"] for s in archived.stored][:1] == ["stored"]
    assert archived.parsed.problems
    rows = IndexReader(table_service()).by_message(wamid)
    assert [r["message_id"] for r in rows] == [wamid]
    records = BlobServiceClient.from_connection_string(conn).get_container_client(
        RECORDS_CONTAINER
    )
    assert records.get_blob_client(rows[0]["record_path"]).exists()
    flagged = IndexReader(table_service()).failures("webhook_error", page_size=1000).rows
    assert any(r["ref"].startswith(archived.envelope.raw_path + "#") for r in flagged)
