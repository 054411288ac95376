"""Failure rows built from hostile provider text are written, not raised (issue 21.8)."""

from __future__ import annotations

import json
import uuid

import pytest

from archive.index import failure_entity
from archive.meta.parser import parse_webhook
from storage.clients import table_service
from storage.index_reader import IndexReader
from storage.index_writer import write_failure
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.azurite

DAY = "2026-11-28"


@pytest.fixture
def reader(monkeypatch: pytest.MonkeyPatch, azurite_conn: str) -> IndexReader:
    use_archive(monkeypatch, azurite_conn)
    return IndexReader(table_service())


def _webhook_error_body(title: str, code: object) -> bytes:
    return json.dumps({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "errors": [{"code": code, "title": title}]}}]}],
    }).encode()


def _stored(reader: IndexReader, kind: str, ref_prefix: str) -> dict[str, object]:
    rows = reader.failures(kind, since_day=DAY, page_size=1000).rows
    (row,) = [r for r in rows if str(r["ref"]).startswith(ref_prefix)]
    return dict(row)


def test_a_100_kib_meta_error_title_is_written(reader: IndexReader) -> None:
    problems = parse_webhook(_webhook_error_body("T" * 100 * 1024, "1" * 70_000)).problems
    ref = f"tests/{uuid.uuid4().hex}/raw.json#0"
    write_failure(table_service(), failure_entity(
        "webhook_error", day=DAY, ref=ref, reason=problems[0],
        detail={"raw_path": "tests/raw.json", "title": problems[0]},
    ))
    row = _stored(reader, "webhook_error", ref)
    assert str(row["reason"]).startswith("entry[0].changes[0]: webhook error 1111")
    detail = json.loads(str(row["detail"]))
    assert detail["raw_path"] == "tests/raw.json" and "title" in detail["_dropped"]


def test_a_long_outbound_media_id_and_a_lone_surrogate_are_written(reader: IndexReader) -> None:
    prefix = f"tests/{uuid.uuid4().hex}/"
    ref = prefix + "1-message-outbound.json#" + "7" * 80_000
    write_failure(table_service(), failure_entity(
        "media_unavailable", day=DAY, ref=ref, reason="404 \ud800",
        # The shape store_record writes (admin views read message_id from it).
        detail={"media_id": "7" * 80_000, "record_path": "r.json",
                "message_id": f"wamid.{uuid.uuid4().hex}"},
    ))
    row = _stored(reader, "media_unavailable", prefix)
    assert row["reason"] == "404 \ufffd"
    assert json.loads(str(row["detail"]))["record_path"] == "r.json"
