"""Failure rows stay valid and inside the Table limits whatever a provider sends (issue 21.8)."""

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.index import (
    MAX_DETAIL_CHARS,
    MAX_REASON_CHARS,
    MAX_REF_CHARS,
    failure_entity,
)
from archive.meta.parser import parse_webhook

pytestmark = pytest.mark.unit

# Azure Tables: a string property holds at most 64 KiB of UTF-16; an entity at most 1 MiB.
STRING_LIMIT_BYTES = 64 * 1024
ENTITY_LIMIT_BYTES = 1024 * 1024


def _utf16_bytes(value: str) -> int:
    return len(value.encode("utf-16-le", "surrogatepass"))


def _assert_within_table_limits(entity: dict[str, object]) -> None:
    total = 0
    for key, value in entity.items():
        assert isinstance(value, str)
        value.encode("utf-8")  # no lone surrogates: the SDK would fail to send the row
        assert _utf16_bytes(value) <= STRING_LIMIT_BYTES, key
        total += _utf16_bytes(key) + _utf16_bytes(value)
    assert total < ENTITY_LIMIT_BYTES
    assert isinstance(json.loads(str(entity["detail"])), dict)


def test_a_huge_meta_error_title_gives_a_bounded_reason() -> None:
    title = "T" * 100 * 1024
    body = json.dumps({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "errors": [{"code": 131000, "title": title}]}}]}],
    }).encode()
    (problem,) = parse_webhook(body).problems
    entity = failure_entity("webhook_error", day="2026-11-28", ref="raw/x.json#0",
                            reason=problem, detail={"raw_path": "raw/x.json"})
    _assert_within_table_limits(entity)
    reason = str(entity["reason"])
    assert len(reason) <= MAX_REASON_CHARS
    assert reason.startswith("entry[0].changes[0]: webhook error 131000: TTT")
    assert reason.endswith(f"[truncated: {len(problem)} chars]")


def test_short_reason_and_ref_are_kept_verbatim() -> None:
    entity = failure_entity("conflict", day="d", ref="records/a.json", reason="why",
                            detail={"a": 1})
    assert (entity["ref"], entity["reason"], entity["detail"]) == (
        "records/a.json", "why", '{"a": 1}'
    )


def test_reason_is_cut_on_a_character_boundary() -> None:
    reason = "é" * (MAX_REASON_CHARS + 10) + "\U0001f600" * 5
    cut = str(failure_entity("conflict", day="d", ref="r", reason=reason, detail={})["reason"])
    assert len(cut) <= MAX_REASON_CHARS and cut.startswith("é" * 100)
    cut.encode("utf-8")


def test_long_ref_keeps_a_readable_prefix_and_the_hash_of_the_whole() -> None:
    media_id = "9" * 50_000
    ref = f"year=2026/month=11/day=28/meta/c/m/1-message-outbound.json#{media_id}"
    entity = failure_entity("media_unavailable", day="d", ref=ref, reason="x", detail={})
    short = str(entity["ref"])
    assert len(short) <= MAX_REF_CHARS
    assert short.startswith("year=2026/month=11/day=28/meta/")
    other = failure_entity("media_unavailable", day="d", ref=ref + "0", reason="x", detail={})
    assert other["ref"] != short and other["RowKey"] != entity["RowKey"]
    # Same failure, same row: the hash covers the whole ref.
    again = failure_entity("media_unavailable", day="d", ref=ref, reason="y", detail={})
    assert (again["RowKey"], again["ref"]) == (entity["RowKey"], short)


def test_row_key_is_unchanged_for_short_refs() -> None:
    # Rows written before this change keep being the same rows.
    entity = failure_entity("conflict", day="2024-05-31", ref="records/a.json", reason="x",
                            detail={})
    expected = hashlib.sha256(b"records/a.json").hexdigest()[:32]
    assert entity["RowKey"] == f"2024-05-31-{expected}"


def test_oversized_detail_stays_valid_json_with_the_small_fields() -> None:
    detail = {"raw_path": "year=2026/month=11/day=28/abc.json", "events": 3,
              "media_id": "9" * 100_000, "title": "é" * 40_000}
    entity = failure_entity("media_unavailable", day="d", ref="r", reason="x", detail=detail)
    _assert_within_table_limits(entity)
    kept = json.loads(str(entity["detail"]))
    assert kept["raw_path"] == detail["raw_path"] and kept["events"] == 3
    assert "media_id" not in kept and "title" not in kept
    assert kept["_dropped"] == {"media_id": 100_002, "title": 240_002}
    assert len(str(entity["detail"])) <= MAX_DETAIL_CHARS


def test_many_small_fields_still_fit() -> None:
    detail = {f"k{i:05d}": "v" * 50 for i in range(5_000)}
    entity = failure_entity("conflict", day="d", ref="r", reason="x", detail=detail)
    _assert_within_table_limits(entity)
    kept = json.loads(str(entity["detail"]))
    assert len(str(entity["detail"])) <= MAX_DETAIL_CHARS
    assert kept["_detail_chars"] > MAX_DETAIL_CHARS


def test_lone_surrogates_do_not_break_the_row() -> None:
    # json.loads turns "\\ud800" into a lone surrogate, which cannot be sent as UTF-8.
    entity = failure_entity("webhook_error", day="d", ref="r\ud800", reason="bad \udfff title",
                            detail={"t": "\ud800"})
    _assert_within_table_limits(entity)
    assert entity["reason"] == "bad \ufffd title"


@settings(deadline=None, max_examples=60)
@given(
    reason=st.text(max_size=3_000),
    ref=st.text(max_size=3_000),
    detail=st.dictionaries(st.text(max_size=300), st.text(max_size=30_000) | st.integers(),
                           max_size=8),
)
def test_every_row_is_valid_and_bounded(reason: str, ref: str, detail: dict[str, object]) -> None:
    entity = failure_entity("unparseable", day="2026-11-28", ref=ref, reason=reason,
                            detail=detail)
    _assert_within_table_limits(entity)
    assert len(str(entity["detail"])) <= MAX_DETAIL_CHARS
    assert len(str(entity["reason"])) <= MAX_REASON_CHARS
    assert len(str(entity["ref"])) <= MAX_REF_CHARS
