from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.encoding import decode_id
from archive.index import (
    CONVERSATION_ROW_PREFIX,
    LATEST_STATUS_ROW,
    STATUS_RANK,
    conversation_filter,
    conversation_row_prefix,
    day_key,
    days_between,
    failure_entity,
    index_entities,
    inverted_ticks,
    latest_status_entity,
    latest_status_of,
    latest_status_wins,
    partition_groups,
    query_bounds,
    range_filter,
    ticks,
)
from archive.layout import record_blob_name
from archive.meta.parser import parse_webhook
from archive.names import (
    INDEX_TABLES,
    TABLE_BY_DAY,
    TABLE_BY_MESSAGE,
    TABLE_BY_PARTICIPANT,
    TABLE_BY_TERM,
)
from archive.record import RawRef, build_record
from tests.unit._meta_fixtures import fixture_bytes

pytestmark = pytest.mark.unit

RAW = RawRef("raw/x.json", "a" * 64)
RECEIVED = datetime(2024, 6, 1, tzinfo=UTC)
_FORBIDDEN = set("/\\#?")
_times = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1),
                      timezones=st.just(UTC))


def _record(name: str, index: int = 0) -> dict[str, object]:
    event = parse_webhook(fixture_bytes(name)).events[index]
    return build_record(event, raw=RAW, received_at=RECEIVED)


def _assert_key_safe(entity: dict[str, object]) -> None:
    for key in ("PartitionKey", "RowKey"):
        value = str(entity[key])
        assert value and len(value) <= 1024 and value.isascii()
        assert not set(value) & _FORBIDDEN
        assert all(0x20 < ord(c) < 0x7F for c in value)


def test_message_rows() -> None:
    record = _record("text")
    rows = index_entities(record, "records/path.json")
    assert set(rows) == {TABLE_BY_MESSAGE, TABLE_BY_PARTICIPANT, TABLE_BY_DAY, TABLE_BY_TERM}
    (by_message,) = rows[TABLE_BY_MESSAGE]
    assert decode_id(by_message["PartitionKey"]) == record["message_id"]
    assert by_message["RowKey"].startswith("message-")
    assert by_message["record_path"] == "records/path.json"
    timeline = [r for r in rows[TABLE_BY_PARTICIPANT] if r["RowKey"][0].isdigit()]
    participants = {decode_id(r["PartitionKey"]) for r in timeline}
    assert participants == {"16315551181", "106540352242922"}
    (by_conversation,) = [r for r in rows[TABLE_BY_PARTICIPANT] if r not in timeline]
    # In the customer's partition, beside the customer's own row, under the business.
    assert by_conversation["PartitionKey"] == "16315551181"
    assert by_conversation["RowKey"] == "c~106540352242922~~" + timeline[0]["RowKey"]
    (by_day,) = rows[TABLE_BY_DAY]
    assert by_day["PartitionKey"] == "2024-05-31"
    # "Please sell 100 shares of ACME at market.": one row per distinct term, in the
    # term's partition, under the by-day RowKey.
    terms = rows[TABLE_BY_TERM]
    assert [r["PartitionKey"] for r in terms] == [
        "please", "sell", "100", "shares", "of", "acme", "at", "market"]
    assert {r["RowKey"] for r in terms} == {by_day["RowKey"]}
    for table_rows in rows.values():
        for row in table_rows:
            _assert_key_safe(row)
            assert "text" not in row  # no message content in the index


def test_status_rows_only_by_message_and_day() -> None:
    rows = index_entities(_record("status_read"), "p")
    assert len(rows[TABLE_BY_MESSAGE]) == 1 and len(rows[TABLE_BY_DAY]) == 1
    assert rows[TABLE_BY_PARTICIPANT] == []
    assert rows[TABLE_BY_MESSAGE][0]["status"] == "read"


def test_all_statuses_of_a_message_have_distinct_rows() -> None:
    result = parse_webhook(fixture_bytes("multi"))
    keys = set()
    for event in result.events[2:4]:
        row = index_entities(build_record(event, raw=RAW, received_at=RECEIVED), "p")
        (by_message,) = row[TABLE_BY_MESSAGE]
        keys.add((by_message["PartitionKey"], by_message["RowKey"]))
    assert len(keys) == 2
    assert len({pk for pk, _ in keys}) == 1


def test_redelivery_gives_identical_rows() -> None:
    assert index_entities(_record("image"), "p") == index_entities(_record("image"), "p")


def test_group_member_is_a_participant() -> None:
    record = _record("group_text")
    rows = index_entities(record, "p")
    keys = {decode_id(r["PartitionKey"]) for r in rows[TABLE_BY_PARTICIPANT]}
    assert keys == {"120363041234567890@g.us", "106540352242922", "16315551181"}
    # A group's conversation is keyed by its customer_id, the group: its row goes there.
    assert rows[TABLE_BY_MESSAGE][0]["customer_id"] == "120363041234567890@g.us"
    (conversation,) = [r for r in rows[TABLE_BY_PARTICIPANT]
                       if r["RowKey"].startswith(CONVERSATION_ROW_PREFIX)]
    assert decode_id(conversation["PartitionKey"]) == "120363041234567890@g.us"


def test_text_message_rows_make_four_partition_groups_and_one_per_word() -> None:
    """Five rows in four calls (the customer's row and the conversation row share one),
    and one call per distinct word: each term row is in its word's partition."""
    groups = partition_groups(index_entities(_record("text"), "p"))
    assert [(table, len(group)) for table, _, group in groups] == [
        (TABLE_BY_MESSAGE, 1), (TABLE_BY_DAY, 1), (TABLE_BY_PARTICIPANT, 2),
        (TABLE_BY_PARTICIPANT, 1)] + [(TABLE_BY_TERM, 1)] * 8
    assert groups[2][1] == "16315551181"
    assert partition_groups(index_entities(_record("status_read"), "p"))[0][0] == (
        TABLE_BY_MESSAGE)
    assert len(partition_groups(index_entities(_record("status_read"), "p"))) == 2
    for table, partition, group in groups:
        assert {r["PartitionKey"] for r in group} == {partition}
        assert table in INDEX_TABLES


@given(_times, _times, _times, st.text(alphabet="abc~-._", max_size=10))
def test_participant_range_never_reaches_conversation_rows(
    t: datetime, s: datetime, e: datetime, business: str
) -> None:
    """Every participant range, bounded or open, sorts below every `c~` RowKey."""
    conversation_key = conversation_row_prefix(business) + f"{inverted_ticks(t)}-x-message-f"
    for start, end in ((min(s, e), max(s, e)), (None, None)):
        _, high = query_bounds(start, end)
        assert conversation_key >= high


@given(_times, _times, _times, st.text(max_size=6), st.text(max_size=6))
def test_conversation_range_selects_only_its_business(
    t: datetime, s: datetime, e: datetime, business: str, other: str
) -> None:
    """`c~<business>~~` is never a prefix of another business's keys (nor of a participant row)."""
    start, end = min(s, e), max(s, e)
    text = conversation_filter(business, "16315551181", start, end)
    low = text.split("RowKey ge '")[1].split("'")[0].replace("''", "'")
    high = text.split("RowKey lt '")[1].split("'")[0].replace("''", "'")
    suffix = f"{inverted_ticks(t)}-wamid-message-0123456789abcdef"
    mine = conversation_row_prefix(business) + suffix
    assert (low <= mine < high) == (start <= t <= end)
    open_text = conversation_filter(business, "16315551181", None, None)
    open_low = open_text.split("RowKey ge '")[1].split("'")[0]
    open_high = open_text.split("RowKey lt '")[1].split("'")[0]
    for key in (conversation_row_prefix(other) + suffix, suffix):
        if other != business or key == suffix:
            assert not (open_low <= key < open_high)


def test_echo_business_side_keyed_by_business_id() -> None:
    rows = index_entities(_record("echo_text"), "p")
    keys = {decode_id(r["PartitionKey"]) for r in rows[TABLE_BY_PARTICIPANT]}
    assert keys == {"16315551181", "106540352242922"}


def test_bsuid_participant_key() -> None:
    rows = index_entities(_record("bsuid_text"), "p")
    keys = {r["PartitionKey"] for r in rows[TABLE_BY_PARTICIPANT]}
    assert "US.13491208655302741918" in keys


@given(_times, _times)
def test_inverted_ticks_order_newest_first(a: datetime, b: datetime) -> None:
    assert len(inverted_ticks(a)) == len(inverted_ticks(b)) == 19
    if a < b:
        assert inverted_ticks(a) > inverted_ticks(b)
        assert ticks(a) < ticks(b)


@given(_times, _times, _times, st.text(alphabet="abc~-._", max_size=10))
def test_query_bounds_select_exactly_the_range(t: datetime, s: datetime, e: datetime,
                                               suffix: str) -> None:
    start, end = min(s, e), max(s, e)
    low, high = query_bounds(start, end)
    row_key = f"{inverted_ticks(t)}-{suffix}"
    assert (low <= row_key < high) == (start <= t <= end)
    open_low, open_high = query_bounds(None, None)
    assert open_low <= row_key < open_high


def test_range_filter_quotes() -> None:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    text = range_filter("it's", start, start + timedelta(days=1))
    assert text.startswith("PartitionKey eq 'it''s' and RowKey ge '")
    assert " and RowKey lt '" in text


def test_days() -> None:
    start = datetime(2024, 2, 28, 23, tzinfo=UTC)
    assert days_between(start, start + timedelta(days=2)) == [
        "2024-03-01", "2024-02-29", "2024-02-28"
    ]
    assert day_key(datetime(2024, 1, 1, 1, tzinfo=UTC)) == "2024-01-01"


T1 = datetime(2024, 5, 31, 16, 0, tzinfo=UTC)
T2 = T1 + timedelta(seconds=10)


@pytest.mark.parametrize(
    ("current", "candidate", "wins"),
    [
        (None, (T1, "sent"), True),
        ((T1, "sent"), (T2, "delivered"), True),
        ((T2, "read"), (T1, "delivered"), False),  # late delivered after read
        ((T1, "read"), (T2, "delivered"), False),  # never regresses even with a later clock
        ((T1, "delivered"), (T1, "read"), True),  # tie broken by rank
        ((T1, "read"), (T1, "delivered"), False),
        ((T1, "read"), (T2, "read"), True),
        ((T2, "read"), (T1, "read"), False),
        ((T1, "read"), (T1, "read"), False),
        ((T1, "sent"), (T2, "failed"), True),
        ((T1, "delivered"), (T2, "mystery"), False),
    ],
)
def test_latest_status_wins(current: tuple[datetime, str] | None,
                            candidate: tuple[datetime, str], wins: bool) -> None:
    assert latest_status_wins(current, candidate) is wins


def test_rank_order() -> None:
    assert STATUS_RANK["sent"] < STATUS_RANK["delivered"] < STATUS_RANK["read"]


@given(st.permutations([(T1, "sent"), (T1 + timedelta(seconds=5), "delivered"),
                        (T2, "read")]))
def test_any_arrival_order_ends_at_read(order: list[tuple[datetime, str]]) -> None:
    shown: tuple[datetime, str] | None = None
    for candidate in order:
        if latest_status_wins(shown, candidate):
            shown = candidate
    assert shown == (T2, "read")


def test_latest_status_entity_round_trip() -> None:
    record = _record("status_read")
    entity = latest_status_entity(record, "p")
    assert entity is not None and entity["RowKey"] == LATEST_STATUS_ROW
    assert latest_status_of(entity) == (datetime(2024, 5, 31, 16, 8, 50, tzinfo=UTC), "read")
    assert latest_status_entity(_record("text"), "p") is None
    assert latest_status_of(None) is None and latest_status_of({"status": "x"}) is None
    _assert_key_safe(entity)


def test_failure_entity_is_deterministic() -> None:
    a = failure_entity("media_unavailable", day="2024-05-31", ref="records/a.json",
                       reason="404", detail={"media_id": "1"})
    b = failure_entity("media_unavailable", day="2024-05-31", ref="records/a.json",
                       reason="404", detail={"media_id": "1"})
    assert a == b and a["PartitionKey"] == "media_unavailable"
    assert a["RowKey"].startswith("2024-05-31-")
    _assert_key_safe(a)
    big = failure_entity("conflict", day="d", ref="r", reason="x", detail={"x": "y" * 100_000})
    assert len(big["detail"]) <= 16_000


def test_record_path_and_name_agree() -> None:
    event = parse_webhook(fixture_bytes("text")).events[0]
    record = build_record(event, raw=RAW, received_at=RECEIVED)
    name = record_blob_name(event)
    assert index_entities(record, name)[TABLE_BY_DAY][0]["record_path"] == name
