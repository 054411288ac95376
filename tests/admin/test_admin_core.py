"""Admin core on real Azurite, seeded through the pipeline's own code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest

from admin.actions import audited_detail, audited_replay, audited_search
from admin.audit import recent_entries
from admin.backlog import backlog
from admin.connection import AdminError, Archive, ArchiveTarget, resolve_target
from admin.failures import failures
from admin.poison import peek_poison
from admin.search import SearchQuery, search
from archive.names import INGEST_QUEUE, SETTING_ARCHIVE_STORAGE
from storage.clients import queue_client
from tests.admin import seed
from tests.support import webhooks

pytestmark = pytest.mark.azurite

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


def ts(minutes: float) -> int:
    return int((T0 + timedelta(minutes=minutes)).timestamp())


def test_backlog_counts_ingest_and_poison(archive: Archive) -> None:
    assert backlog(archive).ingest_depth == 0
    seed.poison(webhooks.text_message(seed.new_wamid(), seed.new_customer(), ts(0)))
    queue_client(INGEST_QUEUE).send_message("{}")
    queue_client(INGEST_QUEUE).send_message("{}")
    result = backlog(archive)
    assert result.ingest_depth == 2
    assert result.poison_depth == 1
    assert result.oldest_age_seconds is not None and result.oldest_age_seconds >= 0


def test_failures_lists_poison_unparseable_and_media_gaps(archive: Archive) -> None:
    envelope = seed.poison(webhooks.text_message(seed.new_wamid(), seed.new_customer(), ts(0)))
    seed.archive_body(b"this is not json")
    wamid = seed.new_wamid()
    seed.archive_body(
        webhooks.image_message(wamid, seed.new_customer(), ts(1), "88001"),
        media_error="media URL expired after 4 attempts",
    )
    found = failures(archive)
    poison = [f for f in found if f.kind == "poison"]
    assert [p.detail["sha256"] for p in poison] == [envelope.sha256]
    assert "maxDequeueCount" in poison[0].reason
    assert any(f.kind == "unparseable" and f.reason for f in found)
    gaps = [f for f in found if f.kind == "media_unavailable" and f.detail["message_id"] == wamid]
    assert gaps and gaps[0].reason == "media URL expired after 4 attempts"


def test_replay_enqueues_then_removes_and_the_worker_archives(archive: Archive) -> None:
    wamid = seed.new_wamid()
    customer = seed.new_customer()
    seed.poison(webhooks.text_message(wamid, customer, ts(2)))
    (message,) = peek_poison(archive)
    steps: list[tuple[int, int | None]] = []

    result = audited_replay(
        archive, ids=[message.message_id], progress=lambda d, t: steps.append((d, t))
    )

    assert result.replayed == [message.message_id] and not result.not_found
    assert steps == [(1, 1)]
    assert peek_poison(archive) == []
    assert backlog(archive).ingest_depth == 1
    assert seed.run_ingest_worker() == 1
    detail = audited_detail(archive, wamid)
    assert detail.record is not None and detail.record["from"] == customer


def test_replay_unknown_id_keeps_poison_intact(archive: Archive) -> None:
    seed.poison(webhooks.text_message(seed.new_wamid(), seed.new_customer(), ts(0)))
    result = audited_replay(archive, ids=["no-such-id"])
    assert result.replayed == [] and result.not_found == ["no-such-id"]
    assert len(peek_poison(archive)) == 1
    assert backlog(archive).ingest_depth == 0


def test_replay_all_poison(archive: Archive) -> None:
    for minute in range(3):
        seed.poison(webhooks.text_message(seed.new_wamid(), seed.new_customer(), ts(minute)))
    done: list[int] = []
    result = audited_replay(archive, all_poison=True, progress=lambda d, t: done.append(d))
    assert len(result.replayed) == 3 and done == [1, 2, 3]
    assert backlog(archive).poison_depth == 0
    assert seed.run_ingest_worker() == 3


def test_search_participant_date_range_newest_first_paged(archive: Archive) -> None:
    customer = seed.new_customer()
    wamids = [seed.new_wamid() for _ in range(5)]
    for minute, wamid in enumerate(wamids):
        seed.archive_body(webhooks.text_message(wamid, customer, ts(minute * 10)))
    query = SearchQuery(
        participant=customer, start=T0 + timedelta(minutes=10), end=T0 + timedelta(minutes=40)
    )
    first = search(archive, query, page_size=2)
    assert [r["message_id"] for r in first.rows] == [wamids[4], wamids[3]]
    assert first.continuation
    second = search(archive, query, page_size=2, continuation=first.continuation)
    assert [r["message_id"] for r in second.rows] == [wamids[2], wamids[1]]
    outbound = search(archive, SearchQuery(participant=customer, direction="outbound"))
    assert outbound.rows == []


def test_search_by_day_and_message_id(archive: Archive) -> None:
    customer = seed.new_customer()
    wamid = seed.new_wamid()
    seed.archive_body(webhooks.text_message(wamid, customer, ts(500)))
    seed.archive_body(webhooks.status(wamid, customer, "read", ts(502)))
    day = search(archive, SearchQuery(start=T0 + timedelta(minutes=499),
                                      end=T0 + timedelta(minutes=503)), page_size=100)
    assert [(r["message_id"], r["event"]) for r in day.rows] == [
        (wamid, "status"), (wamid, "message")
    ]
    by_id = search(archive, SearchQuery(message_id=wamid))
    assert {r["event"] for r in by_id.rows} == {"message", "status"}


def test_detail_timeline_orders_out_of_order_statuses(archive: Archive) -> None:
    customer = seed.new_customer()
    wamid = seed.new_wamid()
    seed.archive_body(webhooks.text_message(wamid, customer, ts(0)))
    # Arrival order: read, then a late delivered, then sent.
    seed.archive_body(webhooks.status(wamid, customer, "read", ts(3)))
    seed.archive_body(webhooks.status(wamid, customer, "delivered", ts(2)))
    seed.archive_body(webhooks.status(wamid, customer, "sent", ts(1)))
    detail = audited_detail(archive, wamid)
    assert [t["status"] for t in detail.timeline] == ["sent", "delivered", "read"]
    assert detail.latest_status == "read"
    assert detail.raw is not None and len(detail.raw["sha256"]) == 64
    assert unquote(detail.urls["record"]).endswith("/records/" + str(detail.record_path))


def test_detail_media_state_and_missing_message(archive: Archive) -> None:
    wamid = seed.new_wamid()
    seed.archive_body(webhooks.image_message(wamid, seed.new_customer(), ts(5), "77001"))
    detail = audited_detail(archive, wamid)
    assert [(m["media_id"], m["state"]) for m in detail.media] == [("77001", "unavailable")]
    with pytest.raises(AdminError, match="not in the index"):
        audited_detail(archive, "wamid.missing")


def test_every_action_and_view_is_audited(archive: Archive) -> None:
    before = len(recent_entries(archive, limit=10_000))
    wamid = seed.new_wamid()
    seed.archive_body(webhooks.text_message(wamid, seed.new_customer(), ts(0)))
    audited_search(archive, SearchQuery(message_id=wamid))
    audited_detail(archive, wamid)
    audited_replay(archive, ids=["nothing-here"])
    entries = recent_entries(archive, limit=10_000)
    assert len(entries) == before + 6  # an intent and an outcome each
    newest = [e.entry for e in entries[:6]]
    assert [(e["action"], e["phase"]) for e in newest] == [
        ("replay", "outcome"), ("replay", "intent"), ("show", "outcome"), ("show", "intent"),
        ("search", "outcome"), ("search", "intent"),
    ]
    assert newest[2]["target"] == {"message_id": wamid} and newest[2]["result"] == "ok"
    assert newest[2]["intent"] == entries[3].name
    assert all(e["who"] and e["when"] for e in newest)
    assert entries[0].name.startswith(datetime.now(UTC).strftime("year=%Y/month=%m/day=%d/"))
    assert "hello" not in json.dumps(newest)  # ids and facets only, never content


def test_unreachable_account_is_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
            "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;")
    monkeypatch.setenv(SETTING_ARCHIVE_STORAGE, conn)
    target = resolve_target()
    assert target.connection_string == conn
    with pytest.raises(AdminError, match="cannot reach storage account 'devstoreaccount1'"):
        backlog(Archive(target))


def test_missing_configuration_names_the_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.delenv(SETTING_ARCHIVE_STORAGE, raising=False)
    monkeypatch.delenv("WA_ARCHIVE_DATA_DIR", raising=False)
    monkeypatch.setattr("admin.connection._REPO_ROOT", tmp_path)
    with pytest.raises(AdminError, match="--account"):
        resolve_target()
    assert resolve_target("contosoarchive") == ArchiveTarget(
        label="storage account 'contosoarchive'", account_name="contosoarchive"
    )


def test_settings_file_of_wa_archive_dev_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, azurite_conn: str
) -> None:
    monkeypatch.delenv(SETTING_ARCHIVE_STORAGE, raising=False)
    settings = tmp_path / ".wa-archive" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({SETTING_ARCHIVE_STORAGE: azurite_conn}), encoding="utf-8")
    settings.chmod(0o600)
    monkeypatch.setenv("WA_ARCHIVE_DATA_DIR", str(settings.parent))
    target = resolve_target()
    assert target.connection_string == azurite_conn
    assert ".wa-archive/settings.json" in target.label
    assert backlog(Archive(target)).ingest_depth >= 0  # the file's account answers


def test_denied_request_names_account_and_role(azurite_conn: str) -> None:
    wrong_key = ";".join(
        "AccountKey=" + "A" * 86 + "==" if part.startswith("AccountKey=") else part
        for part in azurite_conn.split(";")
    )
    archive = Archive(ArchiveTarget(label="storage account 'devstoreaccount1'",
                                    connection_string=wrong_key))
    with pytest.raises(AdminError, match="permission denied on storage account") as caught:
        backlog(archive)
    assert "Storage Queue Data Reader" in str(caught.value)
