"""Supervision flags and policy versions, pure parts (issue #16): names, rows, backfill steps.

archive/flags.py (policy version names, the version document, the flag row), the
name filter and input checks of storage/flags.py, the stored-version check of
storage/lexicon_store.py (bytes in, no I/O), the policy cache with a fake clock, and the
backfill orchestrator driven step by step.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import azure.durable_functions as df
import pytest

from archive.canonical import canonical_json
from archive.flags import (
    FlagError,
    flag_entity,
    flag_row_key,
    policy_version_document,
    policy_version_name,
    version_of,
)
from archive.lexicon import compile_policy, parse_policy
from orchestrations import lexicon_backfill as module
from storage.flags import (
    BACKFILL_ACTIVITY,
    BackfillInputError,
    backfill_input,
    backfill_instance_id,
    day_prefix,
    readable_record_name,
)
from storage.lexicon_store import LexiconStoreError, PolicyCache, parse_version

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
POLICY = {"schema": "wa-archive/lexicon@1", "name": "t",
          "rules": [{"id": "g", "pattern": "guarantee NEAR/3 return"},
                    {"id": "d", "pattern": "delete this"}]}
RECORD: dict[str, Any] = {
    "event": "message", "direction": "inbound", "provider": "meta",
    "message_id": "wamid.X", "timestamp": "2026-12-04T23:59:59+00:00",
    "from": "15551234567", "to": "106540352242922",
    "conversation": {"business_id": "106540352242922", "customer_id": "15551234567"},
    "content": {"text": "I guarantee a return, delete this"},
}
PATH = "year=2026/month=12/day=04/meta/c/m/01764892799-message-inbound.json"


def _hits(record: dict[str, Any] = RECORD) -> dict[str, Any]:
    return compile_policy(parse_policy(POLICY)).evaluate(record)


# --- policy version names and documents -------------------------------------------------

def test_version_names_round_trip_and_reject_others() -> None:
    assert policy_version_name(1) == "supervision/lexicon/v000001.json"
    assert version_of(policy_version_name(42)) == 42
    for other in ("supervision/lexicon/v1.json", "supervision/lexicon/v000001.json.bak",
                  "x/supervision/lexicon/v000001.json", "supervision/decisions/v000001.json"):
        assert version_of(other) is None
    for bad in (0, 1_000_000):
        with pytest.raises(FlagError):
            policy_version_name(bad)


def _stored(version: int = 1, **changes: Any) -> bytes:
    policy = parse_policy(POLICY)
    doc = policy_version_document(policy.document, version=version, sha256=policy.sha256,
                                  set_by="alice", set_at=NOW)
    doc.update(changes)
    return canonical_json(doc)


def test_a_stored_version_reads_back_checked() -> None:
    found = parse_version(1, _stored())
    assert (found.version, found.set_by, found.set_at) == (1, "alice", NOW.isoformat())
    assert found.sha256 == parse_policy(POLICY).sha256
    assert found.to_json()["blob"] == "supervision/lexicon/v000001.json"


@pytest.mark.parametrize(("changes", "message"), [
    ({"policy_sha256": "0" * 64}, "hashes to"),
    ({"version": 2}, "says it is version 2"),
    ({"schema": "other"}, "is not a wa-archive/lexicon-version@1"),
    ({"policy": {**POLICY, "rules": []}}, "invalid policy"),
])
def test_a_stored_version_that_does_not_check_out_is_refused(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(LexiconStoreError, match=message):
        parse_version(1, _stored(**changes))
    with pytest.raises(LexiconStoreError, match="not valid JSON"):
        parse_version(1, b"{")


def test_a_policy_edited_in_place_no_longer_matches_its_sha256() -> None:
    doc = json.loads(_stored())
    doc["policy"]["rules"][1]["pattern"] = "keep this"
    with pytest.raises(LexiconStoreError, match="altered or written by hand"):
        parse_version(1, canonical_json(doc))


# --- the flag row ------------------------------------------------------------------------

def test_flag_row_is_deterministic_and_names_rules_not_the_message() -> None:
    row = flag_entity(RECORD, PATH, version=3, policy_sha256="a" * 64, hits=_hits(),
                      source="archive", flagged_at=NOW)
    again = flag_entity(RECORD, PATH, version=3, policy_sha256="a" * 64, hits=_hits(),
                        source="backfill", flagged_at=NOW)
    assert (row["PartitionKey"], row["RowKey"]) == (again["PartitionKey"], again["RowKey"])
    assert row["PartitionKey"] == "2026-12-04"  # the provider day, like the record's folder
    assert row["RowKey"] == flag_row_key(PATH, 3) != flag_row_key(PATH, 4)
    assert json.loads(row["rules"]) == ["d", "g"]
    assert [h["rule"] for h in json.loads(row["hits"])] == ["g", "d"]
    assert row["hit_count"] == 2 and row["policy_version"] == 3
    assert (row["source"], row["record_path"], row["customer_id"]) == (
        "archive", PATH, "15551234567")
    assert RECORD["content"]["text"] not in json.dumps(row)


def test_flag_row_refuses_no_hits_and_unknown_sources() -> None:
    with pytest.raises(FlagError, match="at least one hit"):
        flag_entity(RECORD, PATH, version=1, policy_sha256="a", hits={}, source="archive",
                    flagged_at=NOW)
    with pytest.raises(FlagError, match="source"):
        flag_entity(RECORD, PATH, version=1, policy_sha256="a", hits=_hits(), source="x",
                    flagged_at=NOW)


def test_many_near_pairs_still_fit_one_table_property() -> None:
    text = " ".join(["guarantee return"] * 400)
    hits = _hits({**RECORD, "content": {"text": text}})
    total = sum(len(found) for found in hits.values())
    row = flag_entity(RECORD, PATH, version=1, policy_sha256="a", hits=hits,
                      source="archive", flagged_at=NOW)
    stored = json.loads(row["hits"])
    assert row["hit_count"] == total > len(stored) > 0
    assert len(row["hits"]) <= 16_000


# --- backfill names and input ------------------------------------------------------------

def test_backfill_reads_only_message_and_edit_records_by_name() -> None:
    folder = "year=2026/month=12/day=04/meta/c/m/"
    assert readable_record_name(folder + "01764892799-message-inbound.json")
    assert readable_record_name(folder + "01764892799-edit-outbound.json")
    for skipped in ("01764892799-status-outbound-read.json", "01764892799-reaction-inbound.json",
                    "01764892799-delete-inbound.json", "01764892799-call-inbound-connect.json",
                    "01764892799-message-inbound.conflict-" + "a" * 64 + ".json",
                    "01764892799-unknown-inbound.json", "notes.txt"):
        assert not readable_record_name(folder + skipped)
    assert day_prefix(date(2026, 12, 4)) == "year=2026/month=12/day=04/"


def test_backfill_instance_id_and_input_checks() -> None:
    iid = backfill_instance_id(2, date(2026, 11, 1), date(2026, 12, 4))
    assert iid == "lexicon-backfill-v2-2026-11-01-2026-12-04"
    assert iid.isascii() and len(iid) <= 100 and not set(iid) & set("/\\?#")
    assert backfill_input(2, date(2026, 12, 4), date(2026, 12, 4)) == {
        "version": 2, "from_day": "2026-12-04", "to_day": "2026-12-04"}
    for args in ((0, date(2026, 1, 1), date(2026, 1, 1)),
                 (1, date(2026, 1, 2), date(2026, 1, 1)),
                 (1, date(2000, 1, 1), date(2026, 1, 1))):
        with pytest.raises(BackfillInputError):
            backfill_input(*args)


class Context:
    """Just enough of DurableOrchestrationContext for backfill_steps."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.input = data
        self.calls: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.continued: dict[str, Any] | None = None

    def get_input(self) -> dict[str, Any]:
        return self.input

    def set_custom_status(self, status: dict[str, Any]) -> None:
        self.statuses.append(dict(status))

    def continue_as_new(self, data: dict[str, Any]) -> None:
        self.continued = data

    def call_activity_with_retry(self, name: str, retry: Any, payload: Any) -> str:
        assert isinstance(retry, df.RetryOptions) and name == BACKFILL_ACTIVITY
        self.calls.append(payload)
        return "task"


def _drive(context: Context, pages: dict[tuple[str, str | None], dict[str, Any]]
           ) -> dict[str, Any]:
    steps = module.backfill_steps(context)
    try:
        next(steps)
        while True:
            call = context.calls[-1]
            steps.send(pages.get((call["day"], call["marker"]),
                                 {"read": 1, "flagged": 0, "next_marker": None}))
    except StopIteration as stop:
        return dict(stop.value)


def test_backfill_walks_days_and_pages_and_reports_progress() -> None:
    context = Context({"version": 2, "from_day": "2026-12-01", "to_day": "2026-12-03"})
    pages: dict[tuple[str, str | None], dict[str, Any]] = {
        ("2026-12-02", None): {"read": 500, "flagged": 3, "next_marker": "m1"},
        ("2026-12-02", "m1"): {"read": 20, "flagged": 1, "next_marker": None}}
    done = _drive(context, pages)
    assert [(c["day"], c["marker"]) for c in context.calls] == [
        ("2026-12-01", None), ("2026-12-02", None), ("2026-12-02", "m1"), ("2026-12-03", None)]
    assert all(c["version"] == 2 for c in context.calls)
    assert done == {"version": 2, "days_total": 3, "days_done": 3, "day": "2026-12-03",
                    "records_read": 522, "flagged": 4, "done": True}
    assert context.statuses[2]["day"] == "2026-12-02" and context.statuses[2]["days_done"] == 1
    assert context.continued is None


def test_backfill_continues_as_new_every_few_days_keeping_its_place() -> None:
    context = Context({"version": 1, "from_day": "2026-11-01", "to_day": "2026-11-30"})
    progress = _drive(context, {})
    assert len(context.calls) == module.DAYS_PER_EXECUTION
    assert context.continued is not None
    assert context.continued["day"] == "2026-11-06" and context.continued["marker"] is None
    assert context.continued["progress"]["days_done"] == 5 == progress["days_done"]
    # The next execution starts where this one stopped, with the counts so far.
    following = Context(context.continued)
    _drive(following, {})
    assert following.calls[0]["day"] == "2026-11-06"
    assert following.statuses[0]["records_read"] == 5


# --- the pipeline's policy cache ------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeContainer:
    """Counts calls: list_blobs and download_blob, the two the cache may make."""

    url = "fake://audit"

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.lists = self.reads = 0

    def list_blobs(self, name_starts_with: str = "") -> list[Any]:
        self.lists += 1
        return [type("B", (), {"name": n})() for n in sorted(self.blobs)
                if n.startswith(name_starts_with)]

    def download_blob(self, name: str) -> Any:
        self.reads += 1
        data = self.blobs[name]
        return type("D", (), {"readall": lambda self: data})()


def test_cache_lists_once_per_ttl_and_reads_only_a_new_version() -> None:
    container, clock = FakeContainer(), Clock()
    cache = PolicyCache(lambda: container, ttl=60, clock=clock)  # type: ignore[arg-type, return-value]
    assert cache.active() is None and (container.lists, container.reads) == (1, 0)
    container.blobs[policy_version_name(1)] = _stored(1)
    clock.now = 59.9
    assert cache.active() is None and container.lists == 1  # fresh: no call at all
    clock.now = 60
    first = cache.active()
    assert first is not None and first.version == 1
    assert (container.lists, container.reads) == (2, 1)
    clock.now = 120
    assert cache.active() is first and (container.lists, container.reads) == (3, 1)


def test_cache_skips_a_tampered_newest_version_for_the_newest_valid_one() -> None:
    container, clock = FakeContainer(), Clock()
    container.blobs[policy_version_name(1)] = _stored(1)
    container.blobs[policy_version_name(2)] = _stored(2, policy_sha256="0" * 64)
    cache = PolicyCache(lambda: container, ttl=60, clock=clock)  # type: ignore[arg-type, return-value]
    found = cache.active()
    assert found is not None and found.version == 1
    reads = container.reads
    clock.now = 60
    assert cache.active() is found and container.reads == reads  # not re-read every TTL


# --- waiting for a backfill (admin) ------------------------------------------------------

class FakeDurable:
    def __init__(self, answers: list[dict[str, Any] | None]) -> None:
        self.answers = answers

    def status(self, instance_id: str) -> dict[str, Any] | None:
        return self.answers.pop(0)


def test_wait_backfill_reports_progress_until_done_or_failed() -> None:
    from admin.connection import AdminError
    from admin.lexicon import wait_backfill

    seen: list[dict[str, Any]] = []
    running = {"runtimeStatus": "Running", "customStatus": {"days_done": 0}}
    done = {"runtimeStatus": "Completed", "customStatus": {"days_done": 1, "done": True}}
    durable = FakeDurable([None, running, {"runtimeStatus": "ContinuedAsNew"}, done])
    final = wait_backfill(durable, "i", seen.append, sleep=lambda _: None)  # type: ignore[arg-type]
    assert final == done and seen == [{"days_done": 0}, {"days_done": 1, "done": True}]
    failed = FakeDurable([{"runtimeStatus": "Failed", "output": "policy version 2: bad\nmore"}])
    with pytest.raises(AdminError, match="backfill i failed: policy version 2: bad"):
        wait_backfill(failed, "i", sleep=lambda _: None)  # type: ignore[arg-type]
    with pytest.raises(AdminError, match="not known"):
        wait_backfill(FakeDurable([None] * 100), "i", sleep=lambda _: None)  # type: ignore[arg-type]
